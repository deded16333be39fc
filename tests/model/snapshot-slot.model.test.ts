// Model-based test of the pool slot: a path to every state of the slot and then every
// transition out of it, replayed against a real slot actor on the real namespace backend.
// Faults follow the path: the n-th prepare of the path fails (the sandbox does not come up) or
// hangs, a discard fails, or the ready sandbox dies (killed for real). After every path every
// sandbox the slot made — and every one it leased out — is gone.
import { describe, expect, it } from "vitest";
import { createActor, type AnyEventObject, type SnapshotFrom } from "xstate";
import { slotActors } from "../../actors/sandbox/slot.actors.ts";
import type { SandboxLease } from "../../actors/sandbox/sandbox-lease.ts";
import { leaseOf } from "../../actors/sandbox/sandbox-handle.ts";
import { slotSandboxId } from "../../core/ids.ts";
import type { SandboxHandle } from "../../core/handles.ts";
import { snapshotSlotMachine, type SlotEmitted, type SlotInput } from "../../machines/snapshot-slot.machine.ts";
import { backendsUnderTest, driver, env, limits, sandboxId, signalSandbox } from "../support/backends.ts";
import { FaultDriver, slowed, type Faults } from "../support/fault-driver.ts";
import { modelCoverage, recordCoverage } from "../support/model-coverage.ts";
import { createMachineTestModel, stateTrail, transitionPaths } from "../support/test-model.ts";

type SlotSnapshot = SnapshotFrom<typeof snapshotSlotMachine>;
type Step = { event: AnyEventObject; state: SlotSnapshot };

const key = (s: SlotSnapshot) => JSON.stringify([s.value, s.context.stopRequested]);
const sandbox = { handle: {} as SandboxHandle, id: "model-g1", isolation: "model" };

const TIMERS = ["refresh.slot.ready", "prepareTimeout.slot.creating", "retry.slot.backoff"];
const MODEL_INPUT = { id: "model", backend: "namespace", limits, refreshMs: 1 };
const model = createMachineTestModel(snapshotSlotMachine, {
  events: [
    { type: "xstate.done.actor.prepare", output: sandbox },
    { type: "xstate.error.actor.prepare", error: new Error("model") },
    { type: "LEASE", leaseId: "model" },
    { type: "STOP" },
    { type: "SANDBOX.EXITED", code: null, signal: "SIGKILL" },
    { type: "xstate.done.actor.discard" },
    { type: "xstate.error.actor.discard", error: new Error("model") },
    { type: "xstate.done.actor.discardFailed" },
    { type: "xstate.error.actor.discardFailed", error: new Error("model") },
    { type: "xstate.done.actor.discardOnStop" },
    { type: "xstate.error.actor.discardOnStop", error: new Error("model") },
    ...TIMERS.map((t) => ({ type: `xstate.after.${t}` })),
  ] as never,
  serializeState: key as never,
  input: MODEL_INPUT,
});

const name = (e: AnyEventObject) => e.type.replace("xstate.", "").replace(/\.slot\.[a-z]+$/, "");

/** Which generation each prepare of the path is, and what the path needs it to do. */
function scenario(slot: string, steps: Step[]) {
  const faults = new Map<string, Faults>();
  const slowDiscard = new Set<string>();
  const input: { -readonly [K in keyof SlotInput]?: SlotInput[K] } = { refreshMs: 600_000, prepareTimeoutMs: 60_000, retryBaseMs: 50, retryMaxMs: 50 };
  let generation = 1; // the slot starts by preparing generation 1
  const at = (g: number) => `${slot}-g${g}`;
  const add = (g: number, f: Faults) => faults.set(at(g), { ...faults.get(at(g)), ...f });
  steps.forEach(({ event }, i) => {
    const t = event.type;
    // STOP while the slot discards what a failed prepare left: that discard must still be running.
    if (t === "STOP" && steps[i - 1]?.state.matches("failed")) slowDiscard.add(at(generation));
    if (t === "xstate.error.actor.prepare") add(generation, { boot: "fail" });
    if (t.startsWith("xstate.after.prepareTimeout")) {
      add(generation, { boot: "hang" });
      input.prepareTimeoutMs = 1500;
    }
    if (t.startsWith("xstate.after.refresh")) input.refreshMs = 700;
    if (t === "xstate.error.actor.discard" || t === "xstate.error.actor.discardOnStop" || t === "xstate.error.actor.discardFailed") {
      add(generation, { teardown: "fail" });
    }
    // Every way back into `creating` starts the next generation.
    if (t === "LEASE" || t.startsWith("xstate.after.retry") || t === "xstate.done.actor.discard" || t === "xstate.error.actor.discard") generation++;
  });
  return { faults, input, slowDiscard };
}

const runReal = backendsUnderTest().includes("namespace");
const paths = transitionPaths(model as never, key, name) as Step[][];

// Pure (no sandbox needed), so it runs wherever the suite does: a state added to the machine
// that no path reaches fails here, by its id.
describe("snapshot-slot machine, model coverage of the paths replayed below", () => {
  it("reaches every state of the slot", () => {
    const report = modelCoverage(snapshotSlotMachine, paths, { input: MODEL_INPUT });
    recordCoverage("snapshot-slot", report);
    expect(report.states.missing, "states of the slot that no path reaches").toEqual([]);
  });
});

describe.skipIf(!runReal)("snapshot-slot machine, model-based, on the real namespace backend", () => {
  it.each(paths.map((p) => [p.map((s) => name(s.event)).join(" → "), p] as const))("%s", async (_, steps) => {
    const slot = sandboxId("s");
    const { faults, input, slowDiscard } = scenario(slot, steps);
    const fault = new FaultDriver(driver("namespace"), (id) => faults.get(id) ?? {});
    const actors = slotActors({ namespace: fault }, env.store);
    const discard = slowed(actors.discard, (i) => slowDiscard.has(i.sandboxId));
    const actor = createActor(snapshotSlotMachine.provide({ actors: { ...actors, discard } }), {
      input: { id: slot, backend: "namespace", limits, refreshMs: 600_000, ...input },
    });
    const leased: SandboxLease[] = [];
    actor.on("slot.leased", (e: Extract<SlotEmitted, { type: "slot.leased" }>) => leased.push(leaseOf(e.sandbox.handle)));
    const { reach } = stateTrail(actor, key);
    const done = new Promise<void>((resolve) => actor.subscribe({ complete: () => resolve() }));
    actor.start();

    for (const step of steps) {
      const e = step.event;
      if (e.type === "LEASE") actor.send({ type: "LEASE", leaseId: "task" });
      else if (e.type === "STOP") actor.send({ type: "STOP" });
      else if (e.type === "SANDBOX.EXITED") signalSandbox(slotSandboxId(slot, actor.getSnapshot().context.generation), "SIGKILL");
      await reach(key(step.state));
    }

    if (actor.getSnapshot().status !== "done") actor.send({ type: "STOP" });
    await done;
    // A leased sandbox is the task's: here the test is the task, and disposes of it.
    for (const lease of leased) {
      expect((await lease.sandbox.channel.exec({ argv: ["true"] })).code).toBe(0);
      await lease.release();
    }
    // Injected teardown failures happen after the real teardown: nothing may remain either way.
    expect(env.store.list().filter((r) => r.id.startsWith(slot))).toEqual([]);
  });
});
