// Model-based test of the agent session: a path to every state of the reasoning loop and then
// along every transition out of it, replayed against the real session machine and real
// approval-request children. The model, the policy, the tools and the sandbox are stand-ins
// that answer as the path says (the real ones are exercised end to end in tests/e2e/run.test.ts):
// this test is about the loop — that every path ends, answers every tool call, asks before
// every red action, and stops its sandbox before it ends.
import { describe, expect, it } from "vitest";
import { assign, createActor, fromPromise, setup, SimulatedClock, type AnyEventObject, type SnapshotFrom } from "xstate";
import type { ModelTurn } from "../../core/model.ts";
import { agentSessionMachine, type ApprovalRecord, type SessionOutput, type ToolDecision } from "../../machines/agent-session.machine.ts";
import { approvalRequestMachine } from "../../machines/approval-request.machine.ts";
import { modelCoverage, recordCoverage } from "../support/model-coverage.ts";
import { createMachineTestModel, stateTrail, transitionPaths } from "../support/test-model.ts";

type Snap = SnapshotFrom<typeof agentSessionMachine>;
type Step = { event: AnyEventObject; state: Snap };

const call = { id: "c1", name: "exec", arguments: { argv: ["true"] } };
const turn = (tools: boolean): ModelTurn => ({
  text: tools ? "working" : "done",
  toolCalls: tools ? [call] : [],
  usage: { inputTokens: 10, outputTokens: 5 },
  stop: tools ? "tool_calls" : "end",
});
const decision = (d: ToolDecision["decision"]): ToolDecision => ({ decision: d, reason: d, actionHash: "h".repeat(64), card: { kind: "exec" }, summary: "exec true" });
const changes = { count: 1, actionHash: "c".repeat(64), card: { kind: "files" }, summary: "apply 1 file" };
const approvalOut = (outcome: "done" | "denied") =>
  outcome === "done" ? { outcome, id: "a", actionHash: "x", by: "user", result: "ok" } : { outcome, id: "a", actionHash: "x", by: "user", reason: "no" };

const INPUT = {
  id: "s1",
  task: "do it",
  system: "sys",
  sandbox: { backend: "stub", limits: { memoryMiB: 64, pidsMax: 16 } },
  budgets: { maxSteps: 3, maxTokens: 1000, maxWallMs: 60_000 },
  interactive: true,
};

const model = createMachineTestModel(agentSessionMachine, {
  events: [
    { type: "xstate.snapshot.sandbox", snapshot: { value: { running: "ready" }, context: { sandbox: { kind: "sandbox" } } } },
    { type: "xstate.done.actor.sandbox", output: { outcome: "failed", id: "x", failure: { stage: "ready", code: "ESANDBOX", message: "died" }, teardown: null } },
    { type: "xstate.done.actor.prepare", output: [] },
    { type: "xstate.error.actor.prepare", error: new Error("model") },
    { type: "xstate.done.actor.think", output: turn(true) },
    { type: "xstate.done.actor.think", output: turn(false) },
    // Cut off at the model's output limit, mid tool call: nothing of it may run or count as done.
    { type: "xstate.done.actor.think", output: { ...turn(true), stop: "max_tokens" } },
    { type: "xstate.error.actor.think", error: new Error("model") },
    ...(["green", "red", "denied"] as const).map((d) => ({ type: "xstate.done.actor.decide", output: decision(d) })),
    { type: "xstate.error.actor.decide", error: new Error("model") },
    // The verdict could not be written to the audit log.
    { type: "xstate.error.actor.decide", error: Object.assign(new Error("audit"), { code: "EAUDIT" }) },
    { type: "xstate.done.actor.runTool", output: { content: "ok", isError: false } },
    { type: "xstate.error.actor.runTool", error: new Error("model") },
    { type: "xstate.done.actor.approval", output: approvalOut("done") },
    { type: "xstate.done.actor.approval", output: approvalOut("denied") },
    { type: "xstate.done.actor.recordApproval", output: undefined },
    { type: "xstate.error.actor.recordApproval", error: Object.assign(new Error("audit"), { code: "EAUDIT" }) },
    { type: "xstate.done.actor.collectChanges", output: null },
    { type: "xstate.done.actor.collectChanges", output: changes },
    { type: "xstate.error.actor.collectChanges", error: new Error("model") },
    { type: "CANCEL", reason: "Ctrl-C" },
    { type: "STOP" },
    { type: "xstate.after.wallTime.session.active" },
  ] as never,
  serializeState: ((s: Snap) => JSON.stringify([s.value, s.context.sandbox !== null, s.context.end?.outcome ?? null])) as never,
  input: INPUT,
});
const key = (s: Snap) => JSON.stringify([s.value, s.context.sandbox !== null, s.context.end?.outcome ?? null]);
const describeOutput = (e: AnyEventObject) => {
  const o = (e as { output?: unknown }).output;
  if (e.type.endsWith("think") && o) return (o as ModelTurn).stop === "max_tokens" ? "(cut)" : (o as ModelTurn).toolCalls.length ? "(tools)" : "(end)";
  if (e.type.endsWith("decide") && o) return `(${(o as ToolDecision).decision})`;
  if (e.type.endsWith("approval") && o) return `(${(o as { outcome: string }).outcome})`;
  if (e.type.endsWith("collectChanges")) return o ? "(changes)" : "(none)";
  if ((e as { error?: { code?: string } }).error?.code === "EAUDIT") return "(audit)";
  return "";
};
const name = (e: AnyEventObject) => `${e.type.replace("xstate.", "").replace(/\.session\.active$/, "")}${describeOutput(e)}`;
/**
 * The sandbox's snapshot matters once (it is ready), and not once the session is closing (the
 * stand-in, like a vm told to stop while it boots, then never becomes ready).
 */
const offered = (from: Snap, e: AnyEventObject) => !(e.type === "xstate.snapshot.sandbox" && (from.context.sandbox !== null || from.matches({ active: "closing" })));
const paths = transitionPaths(model as never, key, name, offered as never) as Step[][];

/** A sandbox stand-in: ready when told (BOOTED), gone on STOP, dead on DIE. */
const stubSandbox = setup({ types: { context: {} as { sandbox: unknown; failed: boolean }, events: {} as { type: "STOP" } | { type: "DIE" } | { type: "BOOTED" } } }).createMachine(
  {
    context: { sandbox: null, failed: false },
    initial: "booting",
    states: {
      booting: {
        on: {
          BOOTED: { target: "running", actions: assign({ sandbox: { kind: "sandbox" } }) },
          STOP: "destroyed",
          DIE: { target: "destroyed", actions: assign({ failed: true }) },
        },
      },
      running: { initial: "ready", states: { ready: {} }, on: { STOP: "destroyed", DIE: { target: "destroyed", actions: assign({ failed: true }) } } },
      destroyed: { type: "final" },
    },
    output: ({ context }) =>
      context.failed
        ? { outcome: "failed", id: "x", failure: { stage: "ready", code: "ESANDBOX", message: "died" }, teardown: null }
        : { outcome: "normal", id: "x", teardown: { oomKilled: false, pidsExhausted: false } },
  },
);

describe("agent-session machine, model-based", () => {
  // A state added to the machine that no path reaches fails here, by its id.
  it("reaches every state of the loop", () => {
    const report = modelCoverage(agentSessionMachine, paths, { input: INPUT });
    recordCoverage("agent-session", report);
    expect(report.states.missing, "states of the session that no path reaches").toEqual([]);
  });

  it.each(paths.map((p) => [p.map((s) => name(s.event)).join(" → "), p] as const))("%s", async (_, steps) => {
    const outcomes = (type: string) => steps.filter((s) => s.event.type.endsWith(`.actor.${type}`)).map((s) => s.event);
    // Each stand-in answers as the path's next result for it says; with none left, it never
    // answers (the path moves on by other means: a cancel, a timer).
    const queue = (type: string) => {
      const q = outcomes(type);
      return async ({ signal }: { signal: AbortSignal }) => {
        const e = q.shift();
        if (!e) return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
        if (e.type.startsWith("xstate.error")) throw Object.assign(new Error(`stand-in ${type} failed`), { code: (e as unknown as { error: { code?: string } }).error.code });
        return (e as unknown as { output: unknown }).output;
      };
    };
    const [prepare, think, decide, runTool, collect, record] = ["prepare", "think", "decide", "runTool", "collectChanges", "recordApproval"].map(queue);
    let executed = 0;
    const recorded: ApprovalRecord[] = [];
    const clock = new SimulatedClock();
    const machine = agentSessionMachine.provide({
      actors: {
        sandbox: stubSandbox as never,
        approval: approvalRequestMachine.provide({ actors: { execute: fromPromise<unknown, { actionHash: string }>(async () => (executed++, "ran")) } }),
        prepare: fromPromise(prepare!) as never,
        think: fromPromise(think!) as never,
        decide: fromPromise(decide!) as never,
        runTool: fromPromise(runTool!) as never,
        collectChanges: fromPromise(collect!) as never,
        recordApproval: fromPromise<unknown, ApprovalRecord>(({ input, signal }) => (recorded.push(input), record!({ signal }))) as never,
      },
    });
    const actor = createActor(machine, { clock, input: INPUT });
    const { reach } = stateTrail(actor, key);
    const done = new Promise<SessionOutput>((resolve) => actor.subscribe({ complete: () => resolve(actor.getSnapshot().output!) }));
    actor.start();
    for (const [i, step] of steps.entries()) {
      const e = step.event;
      if (e.type === "CANCEL" || e.type === "STOP") actor.send(e as never);
      if (e.type.startsWith("xstate.after.wallTime")) clock.increment(60_000);
      const sandbox = actor.getSnapshot().children.sandbox as { send(e: unknown): void } | undefined;
      if (e.type === "xstate.snapshot.sandbox") sandbox?.send({ type: "BOOTED" });
      if (e.type === "xstate.done.actor.sandbox" && !steps[i - 1]?.state.matches({ active: "closing" })) sandbox?.send({ type: "DIE" });
      if (e.type === "xstate.done.actor.approval") {
        const o = (e as unknown as { output: { outcome: string } }).output;
        const pending = actor.getSnapshot().context.decision?.actionHash ?? actor.getSnapshot().context.changes?.actionHash ?? "";
        actor.send(o.outcome === "done" ? { type: "APPROVE", actionHash: pending } : { type: "DENY", reason: "no" });
      }
      await reach(key(step.state));
    }
    if (actor.getSnapshot().status !== "done") actor.send({ type: "CANCEL", reason: "test over" });
    const output = await done;
    // Every path ends, with its sandbox stopped first (the stand-in ended), and only approved actions ran.
    expect(["done", "failed", "cancelled", "budgetExceeded"]).toContain(output.outcome);
    // A decision the audit log could not take ends the session, failed, on its code; nothing runs after it.
    const auditFailed = steps.findIndex((s) => s.event.type.startsWith("xstate.error") && (s.event as { error?: { code?: string } }).error?.code === "EAUDIT");
    if (auditFailed >= 0) {
      expect(output).toMatchObject({
        outcome: "failed",
        failure: { code: "EAUDIT", message: expect.stringMatching(/^the audit log could not be written: .*; (the approved action had run; )?nothing more was run$/) },
      });
      expect(steps.slice(auditFailed + 1).some((s) => /actor\.(runTool|think|approval|collectChanges)$/.test(s.event.type))).toBe(false);
      const answer = steps[auditFailed - 1]?.event as { type: string; output?: { outcome: string } };
      if (answer.type === "xstate.done.actor.approval") expect(output.reason.includes("the approved action had run")).toBe(answer.output!.outcome === "done");
    }
    // A reply cut off at the model's output limit: neither its tool calls nor "done" are taken; the model thinks again.
    for (const s of steps) {
      if (s.event.type === "xstate.done.actor.think" && (s.event as unknown as { output: ModelTurn }).output.stop === "max_tokens") {
        expect(s.state.matches({ active: "acting" }) || s.state.matches({ active: "applying" })).toBe(false);
      }
    }
    expect(actor.getSnapshot().children.sandbox).toBeUndefined();
    const approvals = steps.filter(
      (s) => s.event.type === "xstate.done.actor.approval" && (s.event as unknown as { output: { outcome: string } }).output.outcome === "done",
    ).length;
    expect(executed).toBe(approvals);
    // Each answer goes to the audit log with what it was about: the red call in hand, or the changes' card.
    for (const r of recorded) {
      if (r.subject.kind === "tool") expect(r).toMatchObject({ summary: "exec true", subject: { call } });
      else expect(r).toMatchObject({ summary: changes.summary, subject: { card: changes.card } });
    }
    // Every tool call the model made was answered before the model was asked again.
    const msgs = actor.getSnapshot().context.messages;
    msgs.forEach((m, n) => {
      if (m.role === "assistant" && m.toolCalls?.length && msgs[n + 1]) expect(msgs[n + 1]!.role).toBe("tool");
    });
  });
});
