// What a model-based test actually covers of its machine: which state nodes the replayed paths
// reach and which transitions of the definition they take. A path's snapshots only show where a
// macrostep came to rest, so a transient state (one left at once by an `always`, such as the
// vm's `created`) would never appear in them; and a snapshot does not say which transition
// (which guard of several) got it there. So every step is taken again, purely, through the
// model machine that produced the paths (`step.state.machine`: the derived model of
// tests/support/test-model.ts, same state node ids and the same transitions in the same order
// as the real machine), with an inspector on the `@xstate.microstep` events, which name the
// transitions each microstep took. That is the same pure `transition` the graph walk used, so
// nothing runs: no actor starts and no action executes. Each path is taken from its start,
// with the input the model was walked with, just as the replay drives a real actor.
//
// The state and transition lists are read from the real machine's definition (machine.root,
// recursively), so a state or transition added to a machine shows up here even when no path
// goes near it.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createActor,
  fromTransition,
  getStateNodes,
  type AnyActorScope,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type InspectionEvent,
} from "xstate";

export interface TransitionInfo {
  /** Id of the state node the transition is defined on. */
  readonly source: string;
  /** Its event descriptor as the definition spells it; "" for an eventless (`always`) one. */
  readonly event: string;
  /** Position among the source's transitions for that descriptor: the n-th guarded candidate. */
  readonly index: number;
  readonly guard: string | null;
  /** Target state node ids; empty for a targetless transition (actions only). */
  readonly targets: readonly string[];
  /** One line: `vm.running.busy  EXEC.FAILED[0] (isFatal) → vm.teardown`. */
  readonly label: string;
}

export interface CoverageReport {
  readonly machine: string;
  readonly paths: number;
  readonly states: { readonly all: readonly string[]; readonly reached: readonly string[]; readonly missing: readonly string[] };
  readonly transitions: { readonly all: readonly TransitionInfo[]; readonly exercised: readonly TransitionInfo[]; readonly missing: readonly TransitionInfo[] };
}

interface PathStep {
  readonly event: AnyEventObject;
  readonly state: unknown;
}

/** Every state node of the machine, root included, in document order. */
function allStateNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states as Record<string, AnyStateNode>).flatMap(allStateNodes)];
}

function guardName(t: AnyTransitionDefinition): string | null {
  const g = t.guard as unknown;
  if (g === undefined) return null;
  if (typeof g === "string") return g;
  if (typeof g === "object" && g !== null && typeof (g as { type?: unknown }).type === "string") return (g as { type: string }).type;
  return "inline";
}

function info(source: AnyStateNode, event: string, index: number, t: AnyTransitionDefinition): TransitionInfo {
  const targets = (t.target ?? []).map((n: AnyStateNode) => n.id);
  const guard = guardName(t);
  const label = `${source.id}  ${event === "" ? "always" : event}[${index}]${guard ? ` (${guard})` : ""} → ${targets.length ? targets.join(", ") : "(no target)"}`;
  return { source: source.id, event, index, guard, targets, label };
}

/** Every transition in the definition: `on`, `always`, and those xstate derives from invoke results and `after`. */
function allTransitions(machine: AnyStateMachine): TransitionInfo[] {
  const out: TransitionInfo[] = [];
  for (const node of allStateNodes(machine.root)) {
    for (const [event, defs] of node.transitions as Map<string, AnyTransitionDefinition[]>) defs.forEach((t, i) => out.push(info(node, event, i, t)));
    (node.always ?? []).forEach((t: AnyTransitionDefinition, i: number) => out.push(info(node, "", i, t)));
  }
  return out;
}

/**
 * The descriptor of the real machine's node that a model transition came from. The model may
 * have spelled a wildcard descriptor ("xstate.done.actor.*") out as concrete event types.
 */
function descriptorIn(real: AnyStateNode, eventType: string): string | undefined {
  const transitions = real.transitions as Map<string, unknown>;
  if (transitions.has(eventType)) return eventType;
  return [...transitions.keys()].find((d) => d === "*" || (d.endsWith(".*") && eventType.startsWith(d.slice(0, -1))));
}

/**
 * Which transitions of `machine` the `paths` exercise and which of its state nodes they reach.
 * `input` must be the input the model was walked with: the walk's first step, `xstate.init`,
 * does not carry it, and every path is taken again from the initial snapshot it makes.
 */
export function modelCoverage(machine: AnyStateMachine, paths: ReadonlyArray<ReadonlyArray<PathStep>>, options: { input?: unknown } = {}): CoverageReport {
  const reached = new Set<string>();
  const exercised = new Set<string>();
  const all = allTransitions(machine);
  const byKey = new Map(all.map((t) => [`${t.source}\u0000${t.event}\u0000${t.index}`, t]));

  // A pure scope, like the graph walk's, whose system reports microsteps to us.
  const taken: AnyTransitionDefinition[][] = [];
  const self = createActor(
    fromTransition((s: null) => s, null),
    {
      inspect: (e: InspectionEvent) => {
        if (e.type === "@xstate.microstep" && e.actorRef === self) taken.push(e._transitions);
      },
    },
  );
  const scope: AnyActorScope = {
    self,
    id: "",
    sessionId: "",
    logger: () => {},
    defer: () => {},
    emit: () => {},
    system: self.system,
    stopChild: () => {},
    actionExecutor: () => {},
  };

  const reach = (snapshot: AnyMachineSnapshot) => {
    for (const node of getStateNodes(snapshot.machine.root, snapshot.value)) reached.add(node.id);
  };
  const record = (transitions: AnyTransitionDefinition[]) => {
    for (const t of transitions) {
      const source = t.source as AnyStateNode;
      // The source was active when it fired, even if no snapshot ever rested there.
      for (let n: AnyStateNode | undefined = source; n; n = n.parent) reached.add(n.id);
      for (const target of t.target ?? []) for (let n: AnyStateNode | undefined = target; n; n = n.parent) reached.add(n.id);
      const eventless = (source.always ?? []).includes(t);
      const real = machine.getStateNodeById(source.id);
      const event = eventless ? "" : descriptorIn(real, t.eventType);
      const list: AnyTransitionDefinition[] = eventless ? source.always! : ((source.transitions as Map<string, AnyTransitionDefinition[]>).get(t.eventType) ?? []);
      const key = `${source.id}\u0000${event}\u0000${list.indexOf(t)}`;
      if (event === undefined || !byKey.has(key))
        throw new Error(`model coverage: ${source.id} took a transition on ${t.eventType || "always"} that ${machine.id} does not define`);
      exercised.add(key);
    }
  };
  const drain = () => {
    for (const transitions of taken.splice(0)) record(transitions);
  };

  for (const steps of paths) {
    const [first, ...rest] = steps;
    if (first?.event.type !== "xstate.init") throw new Error("model coverage: a path must start where the walk does, with xstate.init");
    const model = (first.state as AnyMachineSnapshot).machine;
    // Each path is taken again from the start, as the replay sends it to a real actor: the
    // snapshot the walk stored for a step stands for every state with the same serialized key,
    // so its context may not be the one the path's events actually lead to.
    let snapshot = model.getInitialSnapshot(scope, options.input) as AnyMachineSnapshot;
    drain();
    reach(snapshot);
    for (const step of rest) {
      snapshot = model.transition(snapshot, step.event, scope) as AnyMachineSnapshot;
      drain();
      reach(snapshot);
    }
    // And where the replay checks the real actor got to.
    for (const step of steps) reach(step.state as AnyMachineSnapshot);
  }

  const states = allStateNodes(machine.root).map((n) => n.id);
  const ex = all.filter((t) => exercised.has(`${t.source}\u0000${t.event}\u0000${t.index}`));
  return {
    machine: machine.id,
    paths: paths.length,
    states: { all: states, reached: states.filter((id) => reached.has(id)), missing: states.filter((id) => !reached.has(id)) },
    transitions: { all, exercised: ex, missing: all.filter((t) => !ex.includes(t)) },
  };
}

const percent = (n: number, of: number) => `${of === 0 ? 100 : Math.floor((100 * n) / of)}%`;

/** `vm: states 11/11 (100%), transitions 26/29 (89%); not exercised: …` */
export function formatCoverage(r: CoverageReport, name: string = r.machine): string {
  const { states: s, transitions: t } = r;
  return (
    `${name}: states ${s.reached.length}/${s.all.length} (${percent(s.reached.length, s.all.length)}), ` +
    `transitions ${t.exercised.length}/${t.all.length} (${percent(t.exercised.length, t.all.length)})` +
    (s.missing.length ? `; states not reached: ${s.missing.join(", ")}` : "") +
    (t.missing.length ? `; not exercised: ${t.missing.map((x) => x.label).join("; ")}` : "")
  );
}

/** Prints the one-line summary and writes the report to test-results/model-coverage/<name>.json. */
export function recordCoverage(name: string, r: CoverageReport): void {
  console.log(formatCoverage(r, name));
  const dir = join(import.meta.dirname, "..", "..", "test-results", "model-coverage");
  mkdirSync(dir, { recursive: true });
  const summary = {
    name,
    machine: r.machine,
    paths: r.paths,
    states: { total: r.states.all.length, reached: r.states.reached.length, missing: r.states.missing },
    transitions: {
      total: r.transitions.all.length,
      exercised: r.transitions.exercised.length,
      notExercised: r.transitions.missing.map((t) => t.label),
    },
  };
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(summary, null, 2)}\n`);
}
