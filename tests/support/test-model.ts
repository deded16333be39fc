// xstate/graph's TestModel walks machines without running them, so it refuses states that
// invoke actors or wait on `after` timers. This derives the machine's "model": the same
// states and transitions, with each actor result (xstate.done/error.actor.<id>) and each timer
// (xstate.after.<delay>.<state id>) turned into an ordinary event the walk can take. Same
// event names as the real machine, so a path from the model replays against the real actor.
// Each invoked child is still there while its state is active (TestModel takes no invocations:
// spawned on entry, stopped on exit), as a stub that never answers, so an action that sends to
// it by id (sendTo, forwardTo) finds it, as it does in the real machine.
import { createMachine, fromCallback, spawnChild, stopChild, waitFor, type Actor, type AnyActorLogic, type AnyEventObject, type AnyStateMachine, type Snapshot } from "xstate";
import { createTestModel } from "xstate/graph";

type Config = Record<string, unknown> & {
  id?: string;
  entry?: unknown;
  exit?: unknown;
  invoke?: unknown;
  after?: Record<string, unknown>;
  on?: Record<string, unknown>;
  states?: Record<string, Config>;
};

/**
 * TestModel offers only events whose type equals one of a state's descriptors, so a wildcard
 * descriptor ("xstate.done.actor.*") must be spelled out as the concrete types a test will send.
 */
export type Wildcards = Record<string, readonly string[]>;

/** Stands in for every invoked child: it takes events and does nothing. */
const stubChild = fromCallback(() => {});

function transform(node: Config, path: string, wildcards: Wildcards): Config {
  const on: Record<string, unknown> = {};
  for (const [type, transition] of Object.entries(node.on ?? {})) {
    for (const concrete of wildcards[type] ?? [type]) on[concrete] = transition;
  }
  const invokes = (node.invoke ? (Array.isArray(node.invoke) ? node.invoke : [node.invoke]) : []) as Array<{
    id: string;
    onDone?: unknown;
    onError?: unknown;
    onSnapshot?: unknown;
  }>;
  for (const inv of invokes) {
    if (inv.onSnapshot) on[`xstate.snapshot.${inv.id}`] = inv.onSnapshot;
    if (inv.onDone) on[`xstate.done.actor.${inv.id}`] = inv.onDone;
    if (inv.onError) on[`xstate.error.actor.${inv.id}`] = inv.onError;
  }
  for (const [delay, transition] of Object.entries(node.after ?? {})) on[`xstate.after.${delay}.${path}`] = transition;
  const { invoke: _invoke, after: _after, ...rest } = node;
  const states = node.states ? Object.fromEntries(Object.entries(node.states).map(([name, child]) => [name, transform(child, `${path}.${name}`, wildcards)])) : undefined;
  const list = (actions: unknown): unknown[] => (actions === undefined ? [] : Array.isArray(actions) ? actions : [actions]);
  const children = invokes.length
    ? { entry: [...invokes.map((inv) => spawnChild(stubChild, { id: inv.id })), ...list(node.entry)], exit: [...list(node.exit), ...invokes.map((inv) => stopChild(inv.id))] }
    : {};
  return { ...rest, ...children, on, ...(states && { states }) };
}

export function modelMachine<M extends AnyStateMachine>(machine: M, wildcards: Wildcards = {}): M {
  const config = machine.config as Config;
  return createMachine(transform(config, config.id ?? "(machine)", wildcards) as never, machine.implementations as never) as unknown as M;
}

export function createMachineTestModel<M extends AnyStateMachine>(machine: M, options: Parameters<typeof createTestModel<M>>[1], wildcards: Wildcards = {}) {
  return createTestModel(modelMachine(machine, wildcards), options);
}

export interface Step<S> {
  readonly event: AnyEventObject;
  readonly state: S;
}

/**
 * A path to every state the model reaches, then one more step along every transition out of
 * it: transition coverage rather than just state coverage. `name` tells paths apart (two
 * events of one type with different payloads are different transitions); `offered` drops
 * steps along events the test would never send in that state.
 */
export function transitionPaths<S extends Snapshot<unknown>>(
  model: {
    getShortestPaths(o: { allowDuplicatePaths: boolean }): Array<{ state: S; steps: Array<Step<S>> }>;
    getAdjacencyMap(): Record<string, { transitions: Record<string, unknown> }>;
  },
  key: (state: S) => string,
  name: (event: AnyEventObject) => string,
  offered: (from: S, event: AnyEventObject) => boolean = () => true,
): Array<Array<Step<S>>> {
  const toState = new Map<string, Array<Step<S>>>();
  for (const path of model.getShortestPaths({ allowDuplicatePaths: true })) toState.set(key(path.state), path.steps);
  const paths = new Map<string, Array<Step<S>>>();
  for (const [from, { transitions }] of Object.entries(model.getAdjacencyMap())) {
    const prefix = toState.get(from);
    if (!prefix?.length) continue;
    for (const step of Object.values(transitions) as Array<Step<S>>) {
      if (!offered(prefix.at(-1)!.state, step.event)) continue;
      const path = [...prefix, step];
      paths.set(path.map((s) => name(s.event)).join(" → "), path);
    }
  }
  return [...paths.values()];
}

/**
 * Records every distinct state a real actor passes through, so a step can be checked even when
 * the SUT has already moved on (teardown lasts milliseconds). `reach` waits until the wanted
 * state appears after the last one matched, in order.
 */
export function stateTrail<S extends Snapshot<unknown>>(actor: Actor<AnyActorLogic> & { getSnapshot(): S }, key: (s: S) => string, timeout = 30_000) {
  const seen: string[] = [];
  actor.subscribe((s) => {
    if (seen.at(-1) !== key(s as S)) seen.push(key(s as S));
  });
  let matched = 0;
  return {
    seen,
    async reach(want: string): Promise<void> {
      await waitFor(actor, () => seen.indexOf(want, matched) >= 0 || actor.getSnapshot().status === "done", { timeout });
      const at = seen.indexOf(want, matched);
      if (at < 0) throw new Error(`expected the actor to reach ${want}; it went ${seen.join(" → ")}`);
      matched = at;
    },
  };
}
