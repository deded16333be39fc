// Model-based test of the approval request: every state, and every transition out of it,
// replayed against the real machine on XState's simulated clock (the deadline). Whatever the
// path, it ends approved only after an approval naming its exact hash, says so once
// (approval.settled, the same as its output) after saying what it asks (approval.pending), and
// names who settled it.
import { describe, expect, it } from "vitest";
import { createActor, SimulatedClock, type AnyEventObject, type SnapshotFrom } from "xstate";
import { approvalRequestMachine, type ApprovalEmitted, type ApprovalOutput } from "../../machines/approval-request.machine.ts";
import { modelCoverage, recordCoverage } from "../support/model-coverage.ts";
import { createMachineTestModel, stateTrail, transitionPaths } from "../support/test-model.ts";

type Snap = SnapshotFrom<typeof approvalRequestMachine>;
type Step = { event: AnyEventObject; state: Snap };
const HASH = "a".repeat(64);
const input = (interactive: boolean) => ({ id: "req", sessionId: "s1", actionHash: HASH, card: { kind: "mcp" }, summary: "call a tool", deadlineMs: 60_000, interactive });
const key = (s: Snap) => JSON.stringify(s.value);
const name = (e: AnyEventObject) =>
  e.type === "APPROVE" ? `APPROVE(${e.actionHash === HASH ? "same action" : "other action"})` : e.type.replace("xstate.", "").replace(/\.approval\.[a-z]+$/, "");

const events = [
  { type: "APPROVE", actionHash: HASH },
  { type: "APPROVE", actionHash: "b".repeat(64) },
  { type: "DENY", reason: "no" },
  { type: "CANCEL", reason: "session ended" },
  { type: "xstate.after.deadline.approval.pending" },
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
    const clock = new SimulatedClock();
    const before = Date.now();
    const actor = createActor(approvalRequestMachine, { clock, input: input(interactive) });
    const emitted: ApprovalEmitted[] = [];
    actor.on("*", (e) => emitted.push(e));
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
    expect(output.outcome === "approved").toBe(approved);
    expect(emitted.filter((e) => e.type === "approval.refused").every((e) => e.type === "approval.refused" && e.given !== HASH)).toBe(true);
    // First what it asks, then (once) how it was settled: the output itself.
    const told = emitted.filter((e) => e.type !== "approval.refused");
    expect(told).toEqual([
      { type: "approval.pending", id: "req", sessionId: "s1", actionHash: HASH, card: { kind: "mcp" }, summary: "call a tool", deadlineAt: expect.any(Number) },
      { type: "approval.settled", ...output },
    ]);
    expect((told[0] as { deadlineAt: number }).deadlineAt).toBeGreaterThanOrEqual(before + 60_000);
    // Who settled it: the user answers, the deadline expires, the session cancels.
    const by = { approved: "user", denied: "user", expired: "timeout", cancelled: "session" } as const;
    expect(output.by).toBe(by[output.outcome]);
  });
});

describe("approval request in a run nobody can answer", () => {
  it("is denied at once, by policy, whatever answer comes later", () => {
    const actor = createActor(approvalRequestMachine, { input: input(false) }).start();
    actor.send({ type: "APPROVE", actionHash: HASH }); // too late: already decided
    expect(actor.getSnapshot().output).toEqual({
      outcome: "denied",
      id: "req",
      sessionId: "s1",
      actionHash: HASH,
      summary: "call a tool",
      by: "non-interactive",
      reason: "nobody can approve in a non-interactive run: denied by policy",
    });
  });
});
