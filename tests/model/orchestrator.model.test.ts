// Model-based test of the orchestrator: xstate/graph yields a path to every state of the
// supervisor (which children run, which wait for a restart, how many restarts each has used,
// whether it escalated) and one more step along every transition out of it. Each path is
// replayed against a real orchestrator whose children are real vm actors on the real namespace
// backend. Child exits are caused for real: a normal one by STOP, a failure by killing the
// sandbox, a crash by a fault that makes the vm's execute actor throw, a child that will not
// stop by a guest that never acknowledges shutdown. Nothing may be left behind by any path.
import { describe, expect, it } from "vitest";
import { createActor, waitFor, type AnyEventObject, type SnapshotFrom } from "xstate";
import { vmActors } from "../../actors/sandbox/vm.actors.ts";
import { orchestratorMachine, type ChildSpec, type OrchestratorOutput } from "../../machines/orchestrator.machine.ts";
import { backoffDelay } from "../../machines/supervision.ts";
import { vmMachine } from "../../machines/vm.machine.ts";
import { backendsUnderTest, driver, env, limits, sandboxId, signalSandbox } from "../support/backends.ts";
import { FaultDriver, type Faults } from "../support/fault-driver.ts";
import { modelCoverage, recordCoverage } from "../support/model-coverage.ts";
import { createMachineTestModel, stateTrail, transitionPaths } from "../support/test-model.ts";

type Snapshot = SnapshotFrom<typeof orchestratorMachine>;
type Step = { event: AnyEventObject; state: Snapshot };

const policy = { maxRestarts: 2, withinMs: 600_000, backoffBaseMs: 400, backoffMaxMs: 400 };
const CHILD_STOP_MS = 800;
const CHILDREN: Record<string, ChildSpec["restart"]> = { a: "temporary", b: "permanent" };
const normal = (id: string) => ({ outcome: "normal", id, teardown: { oomKilled: false, pidsExhausted: false } });
const failed = (id: string) => ({ outcome: "failed", id, failure: { stage: "ready", code: "ESANDBOX", message: "model" }, teardown: null });

/** The supervisor's state as the model sees it; the same function reads the real actor's. */
function key(s: Snapshot): string {
  const children = s.context.children.map((c) => [c.id, c.ref?.id ?? null, c.recent]);
  return JSON.stringify([s.value, children, s.context.escalation?.id ?? null]);
}

function eventsFor(s: Snapshot): AnyEventObject[] {
  const events: AnyEventObject[] = [{ type: "SHUTDOWN", reason: "model" }, { type: "xstate.after.childStopTimeout.orchestrator.shuttingDown" }];
  for (const [id, restart] of Object.entries(CHILDREN)) events.push({ type: "SPAWN", child: { id, src: "vm", restart, input: { id } } });
  for (const c of s.context.children) {
    if (c.ref) {
      const actorId = c.ref.id;
      events.push(
        { type: `xstate.done.actor.${actorId}`, output: normal(actorId) },
        { type: `xstate.done.actor.${actorId}`, output: failed(actorId) },
        { type: `xstate.error.actor.${actorId}`, error: new Error("model crash") },
      );
    } else {
      events.push({ type: "RESTART", id: c.id }); // FORGET is left out: the window here is longer than any test
    }
  }
  return events;
}

// Every actor id a child can have here: a, b, and b's restarts up to the intensity limit.
const actorIds = ["a", "b", ...Array.from({ length: policy.maxRestarts }, (_, n) => `b-r${n + 1}`)];
const MODEL_INPUT = { policy, childStopMs: CHILD_STOP_MS, random: () => 0 };
const model = createMachineTestModel(
  orchestratorMachine,
  { events: eventsFor as never, serializeState: key as never, input: MODEL_INPUT },
  {
    "xstate.done.actor.*": actorIds.map((id) => `xstate.done.actor.${id}`),
    "xstate.error.actor.*": actorIds.map((id) => `xstate.error.actor.${id}`),
  },
);

function describeEvent(e: AnyEventObject): string {
  if (e.type.startsWith("xstate.done.actor.")) return `${e.type.slice(18)} exits ${(e.output as { outcome?: string } | undefined)?.outcome ?? JSON.stringify(e)}`;
  if (e.type.startsWith("xstate.error.actor.")) return `${e.type.slice(19)} crashes`;
  if (e.type === "SPAWN") return `spawn ${(e.child as ChildSpec).id}`;
  if (e.type === "RESTART") return `restart ${e.id as string}`;
  if (e.type.startsWith("xstate.after.")) return "stop times out";
  return e.type;
}

/**
 * A clock that holds the orchestrator's restart timers until the path's `restart` step, and runs
 * every other timer (the children's, the stop timeout) for real. With the backoff on a real
 * timer, a path that takes another step while a restart is pending raced it: on a loaded
 * machine a child's exit can take longer than the backoff, the child came back first, and the
 * state the path expected never came. The restart delays are the only ones of their length.
 */
function heldRestarts() {
  const delays = new Set(Array.from({ length: policy.maxRestarts + 1 }, (_, n) => backoffDelay(policy, n, () => 0)));
  const held = new Map<object, () => void>();
  return {
    clock: {
      setTimeout: (fn: () => void, ms: number): unknown => {
        if (!delays.has(ms)) return setTimeout(fn, ms);
        const id = {};
        held.set(id, fn);
        return id;
      },
      clearTimeout: (id: unknown) => {
        if (!held.delete(id as object)) clearTimeout(id as NodeJS.Timeout);
      },
    },
    release() {
      const [id, fn] = held.entries().next().value ?? [];
      if (!id || !fn) throw new Error("the path restarts a child, but no restart is pending");
      held.delete(id);
      fn();
    },
  };
}

const runReal = backendsUnderTest().includes("namespace");
// Events offered bare because eventsFor had no payload for them in that state are not events anyone sends.
const offered = (from: Snapshot, e: AnyEventObject) => eventsFor(from).some((o) => o.type === e.type);
const paths = transitionPaths(model as never, key, describeEvent, offered as never) as Step[][];

// Pure (no sandbox needed), so it runs wherever the suite does: a state added to the machine
// that no path reaches fails here, by its id.
describe("orchestrator machine, model coverage of the paths replayed below", () => {
  it("reaches every state of the supervisor", () => {
    const report = modelCoverage(orchestratorMachine, paths, { input: MODEL_INPUT });
    recordCoverage("orchestrator", report);
    expect(report.states.missing, "states of the orchestrator that no path reaches").toEqual([]);
  });

  it("reaches an escalation and a child stopped by force", () => {
    expect(paths.some((p) => p.at(-1)!.state.context.escalation !== null)).toBe(true);
    expect(paths.some((p) => p.at(-1)!.state.context.forced.length > 0)).toBe(true);
  });
});

describe.skipIf(!runReal)("orchestrator machine, model-based, with real vm children on the namespace backend", () => {
  it.each(paths.map((p) => [p.map((s) => describeEvent(s.event)).join(" → "), p] as const))("%s", async (_, steps) => {
    const run = sandboxId("o");
    const sandboxOf = (actorId: string) => `${run}-${actorId}`;
    // During shutdown the orchestrator stops its last child first. Where the path has that child
    // outlast the orchestrator's patience, or has another child exit before it, the last child
    // gets a sandbox that never finishes provisioning and a guest that never stops.
    const stuck = new Set<string>();
    steps.forEach((step, i) => {
      const before = steps[i - 1]?.state;
      if (!before?.matches("shuttingDown")) return;
      const last = before.context.children.filter((c) => c.ref).at(-1)?.ref?.id;
      const exiting = /^xstate\.(done|error)\.actor\.(.+)$/.exec(step.event.type)?.[2];
      if (last && (step.event.type.startsWith("xstate.after.childStopTimeout") || (exiting && exiting !== last))) stuck.add(last);
    });
    const fault = new FaultDriver(driver("namespace"), (id): Faults =>
      [...stuck].some((actorId) => sandboxOf(actorId) === id) ? { crashOnExec: true, provision: "hang", shutdown: "hang" } : { crashOnExec: true },
    );
    const vm = vmMachine.provide({ actors: vmActors({ namespace: fault }, env.store) });
    const restarts = heldRestarts();
    const actor = createActor(orchestratorMachine.provide({ actors: { vm } }), {
      input: { policy, childStopMs: CHILD_STOP_MS, random: () => 0 },
      clock: restarts.clock,
    });
    const reaps: Promise<void>[] = [];
    actor.on("child.reap", ({ actorId }) => {
      const record = env.store.read(sandboxOf(actorId));
      if (record) reaps.push(fault.destroy(record).catch(() => {}));
    });
    const { reach } = stateTrail(actor, key);
    const done = new Promise<OrchestratorOutput>((resolve) => actor.subscribe({ complete: () => resolve(actor.getSnapshot().output!) }));
    actor.start();
    const childRef = (actorId: string) => actor.getSnapshot().children[actorId] as ReturnType<typeof createActor<typeof vm>> | undefined;
    const whenReady = async (actorId: string) => {
      const ref = childRef(actorId);
      if (ref) await waitFor(ref, (s) => s.matches("running") || s.status !== "active", { timeout: 30_000 });
      return ref;
    };

    for (const step of steps) {
      const e = step.event;
      if (e.type === "SPAWN") {
        const { id, restart } = e.child as ChildSpec;
        actor.send({ type: "SPAWN", child: { id, src: "vm", restart, input: { id: sandboxOf(id), backend: "namespace", limits, timeouts: { stopMs: 10_000 } } } });
      } else if (e.type === "SHUTDOWN") {
        actor.send({ type: "SHUTDOWN", reason: "model" });
      } else if (e.type.startsWith("xstate.done.actor.")) {
        const actorId = e.type.slice("xstate.done.actor.".length);
        if ((e.output as { outcome: string }).outcome === "normal") {
          childRef(actorId)?.send({ type: "STOP" });
        } else {
          await whenReady(actorId);
          signalSandbox(sandboxOf(actorId), "SIGKILL");
        }
      } else if (e.type.startsWith("xstate.error.actor.")) {
        const actorId = e.type.slice("xstate.error.actor.".length);
        (await whenReady(actorId))?.send({ type: "EXEC", job: { argv: ["__crash__"], timeoutMs: 1000 } });
      } else if (e.type === "RESTART") {
        restarts.release();
      }
      // The stop timeout is the orchestrator's own timer.
      await reach(key(step.state));
    }

    if (actor.getSnapshot().status !== "done") actor.send({ type: "SHUTDOWN", reason: "end of path" });
    const output = await done;
    await Promise.all(reaps);
    expect(output.forced).toEqual(steps.at(-1)!.state.status === "done" ? steps.at(-1)!.state.context.forced : output.forced);
    // Whatever the path, every sandbox of every incarnation is gone.
    expect(env.store.list().filter((r) => r.id.startsWith(run))).toEqual([]);
  });
});
