// Model-based test of the approval request: every state, and every transition out of it,
// replayed against the real machine on XState's simulated clock (the deadline) with an execute
// actor that succeeds or fails as the path says. Whatever the path, the action runs at most
// once and only after an approval naming its exact hash.
import { describe, expect, it } from "vitest";
import { createActor, fromPromise, SimulatedClock, type AnyEventObject, type SnapshotFrom } from "xstate";
import { approvalRequestMachine, type ApprovalOutput } from "../../machines/approval-request.machine.ts";
import { modelCoverage, recordCoverage } from "../support/model-coverage.ts";
import { createMachineTestModel, stateTrail, transitionPaths } from "../support/test-model.ts";

type Snap = SnapshotFrom<typeof approvalRequestMachine>;
type Step = { event: AnyEventObject; state: Snap };
const HASH = "a".repeat(64);
const input = (interactive: boolean) => ({ id: "req", actionHash: HASH, card: { kind: "mcp" }, summary: "call a tool", deadlineMs: 60_000, interactive });
const key = (s: Snap) => JSON.stringify(s.value);
const name = (e: AnyEventObject) =>
  e.type === "APPROVE" ? `APPROVE(${e.actionHash === HASH ? "same action" : "other action"})` : e.type.replace("xstate.", "").replace(/\.approval\.[a-z]+$/, "");

const events = [
  { type: "APPROVE", actionHash: HASH },
  { type: "APPROVE", actionHash: "b".repeat(64) },
  { type: "DENY", reason: "no" },
  { type: "CANCEL", reason: "session ended" },
  { type: "xstate.after.deadline.approval.pending" },
  { type: "xstate.done.actor.execute", output: "ran" },
  { type: "xstate.error.actor.execute", error: new Error("model") },
];

describe("approval request, model-based", () => {
  const interactive = true;
  const model = createMachineTestModel(approvalRequestMachine, { events: events as never, serializeState: key as never, input: input(interactive) });
  const paths = transitionPaths(model as never, key, name) as Step[][];

  // A state added to the machine that no path reaches fails here, by its id.
  it("reaches every state of the machine", () => {
    const report = modelCoverage(approvalRequestMachine, paths, { input: input(interactive) });
    recordCoverage("approval-request", report);
    expect(report.states.missing, "states of the approval request that no path reaches").toEqual([]);
  });

  it.each(paths.map((p) => [p.map((s) => name(s.event)).join(" → "), p] as const))("%s", async (_, steps) => {
    const fails = steps.some((s) => s.event.type === "xstate.error.actor.execute");
    let runs = 0;
    const clock = new SimulatedClock();
    const machine = approvalRequestMachine.provide({
      actors: {
        execute: fromPromise(async ({ input: i }) => {
          runs++;
          expect(i.actionHash).toBe(HASH);
          if (fails) throw new Error("the action failed");
          return "ran";
        }),
      },
    });
    const actor = createActor(machine, { clock, input: input(interactive) });
    const refused: string[] = [];
    actor.on("approval.refused", (e) => refused.push(e.given));
    const { reach } = stateTrail(actor, key);
    const done = new Promise<ApprovalOutput>((resolve) => actor.subscribe({ complete: () => resolve(actor.getSnapshot().output!) }));
    actor.start();
    for (const step of steps) {
      const e = step.event;
      if (e.type === "APPROVE" || e.type === "DENY" || e.type === "CANCEL") actor.send(e as never);
      if (e.type.startsWith("xstate.after.deadline")) clock.increment(60_000);
      await reach(key(step.state));
    }
    const last = steps.at(-1)!.state;
    if (last.status !== "done") actor.send({ type: "CANCEL", reason: "test over" });
    const output = await done;
    const approved = steps.some((s) => s.event.type === "APPROVE" && s.event.actionHash === HASH);
    expect(runs).toBe(approved ? 1 : 0);
    expect(refused.every((h) => h !== HASH)).toBe(true);
    if (!approved) expect(output).toMatchObject({ outcome: expect.stringMatching(/denied|expired|cancelled/) });
  });
});

describe("approval request in a run nobody can answer", () => {
  it("is denied at once, by policy, and never runs the action", () => {
    let runs = 0;
    const machine = approvalRequestMachine.provide({
      actors: {
        execute: fromPromise<unknown, { actionHash: string }>(async () => {
          runs++;
          return undefined;
        }),
      },
    });
    const actor = createActor(machine, { input: input(false) }).start();
    actor.send({ type: "APPROVE", actionHash: HASH }); // too late: already decided
    expect(actor.getSnapshot().output).toEqual({
      outcome: "denied",
      id: "req",
      actionHash: HASH,
      by: "non-interactive",
      reason: "nobody can approve in a non-interactive run: denied by policy",
    });
    expect(runs).toBe(0);
  });
});
