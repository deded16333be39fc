// Model-based test of the agent session: a path to every state of the reasoning loop and then
// along every transition out of it, replayed against the real session machine and real
// approval-request children. The model, the policy, the tools and the sandbox are stand-ins
// that answer as the path says (the real ones are exercised end to end in tests/e2e/run.test.ts):
// this test is about the loop — that every path ends, answers every tool call, asks before
// every red action and runs only the action whose hash was approved, once its answer is
// recorded, and stops its sandbox before it ends.
import { describe, expect, it } from "vitest";
import { assign, createActor, fromPromise, setup, SimulatedClock, waitFor, type AnyEventObject, type SnapshotFrom } from "xstate";
import type { ModelTurn } from "../../core/model.ts";
import type { ApprovalRecord } from "../../machines/approval-audit.ts";
import { agentSessionMachine, type ActionDecision, type SessionAction, type SessionOutput } from "../../machines/agent-session.machine.ts";
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
const decision = (d: ActionDecision["decision"]): ActionDecision => ({
  decision: d,
  reason: d,
  actionHash: d[0]!.repeat(64),
  card: { kind: "exec" },
  summary: "exec true",
  action: { kind: "tool", call, target: { kind: "exec", argv: ["true"], cwd: "/workspace", envNames: [], network: false } },
});
const changes: ActionDecision = {
  decision: "red",
  reason: "apply",
  actionHash: "c".repeat(64),
  card: { kind: "files" },
  summary: "apply 1 file",
  action: { kind: "apply", changes: [] },
};
const approvalOut = (outcome: "approved" | "denied") => ({ outcome, id: "a", sessionId: "s1", actionHash: "x", summary: "s", by: "user", reason: outcome });

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
    { type: "xstate.done.actor.approval", output: approvalOut("approved") },
    { type: "xstate.done.actor.approval", output: approvalOut("denied") },
    { type: "xstate.done.actor.recordApproval", output: undefined },
    { type: "xstate.error.actor.recordApproval", error: Object.assign(new Error("audit"), { code: "EAUDIT" }) },
    { type: "xstate.done.actor.collectChanges", output: null },
    { type: "xstate.done.actor.collectChanges", output: changes },
    { type: "xstate.error.actor.collectChanges", error: new Error("model") },
    { type: "CANCEL", reason: "Ctrl-C" },
    { type: "STOP" },
    // What CANCEL, STOP and the wall time raise: the session's one way to start ending.
    { type: "END", outcome: "cancelled", reason: "Ctrl-C" },
    { type: "xstate.after.wallTime.session.active" },
  ] as never,
  serializeState: ((s: Snap) => JSON.stringify([s.value, s.context.sandbox !== null, s.context.end?.outcome ?? null])) as never,
  input: INPUT,
});
const key = (s: Snap) => JSON.stringify([s.value, s.context.sandbox !== null, s.context.end?.outcome ?? null]);
const describeOutput = (e: AnyEventObject) => {
  const o = (e as { output?: unknown }).output;
  if (e.type.endsWith("think") && o) return (o as ModelTurn).stop === "max_tokens" ? "(cut)" : (o as ModelTurn).toolCalls.length ? "(tools)" : "(end)";
  if (e.type.endsWith("decide") && o) return `(${(o as ActionDecision).decision})`;
  if (e.type.endsWith("approval") && o) return `(${(o as { outcome: string }).outcome})`;
  if (e.type.endsWith("collectChanges")) return o ? "(changes)" : "(none)";
  if ((e as { error?: { code?: string } }).error?.code === "EAUDIT") return "(audit)";
  return "";
};
const name = (e: AnyEventObject) => `${e.type.replace("xstate.", "").replace(/\.session\.active$/, "")}${describeOutput(e)}`;
/**
 * The sandbox's snapshot matters once (it is ready), and not once the session is closing (the
 * stand-in, like a vm told to stop while it boots, then never becomes ready). A second reason to
 * end, while the first is still winding down an approval, is left out: the model waits for the
 * approval's answer as an event, where the real request has answered (cancelled) at once.
 */
const ENDING = ["CANCEL", "STOP", "END", "xstate.after.wallTime.session.active"];
const offered = (from: Snap, e: AnyEventObject) =>
  !(e.type === "xstate.snapshot.sandbox" && (from.context.sandbox !== null || from.matches({ active: "closing" }))) &&
  !(ENDING.includes(e.type) && from.context.end !== null && !from.matches({ active: "closing" }));
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
    const [prepare, think, decide, runTool, collect, recordNext] = ["prepare", "think", "decide", "runTool", "collectChanges", "recordApproval"].map(queue);
    // A request the session's end cancelled is recorded before it closes: written, unless the path says otherwise.
    const recordQueue = outcomes("recordApproval");
    const record = ({ signal }: { signal: AbortSignal }) =>
      recordQueue.length === 0 && actor.getSnapshot().context.end !== null ? Promise.resolve() : (recordQueue.shift(), recordNext!({ signal }));
    // What each run was given, and the session as it was when it ran it.
    const ran: Array<{ action: SessionAction; session: Snap }> = [];
    const recorded: ApprovalRecord[] = [];
    const clock = new SimulatedClock();
    const machine = agentSessionMachine.provide({
      actors: {
        sandbox: stubSandbox as never,
        prepare: fromPromise(async ({ signal }) => ({ tools: (await prepare!({ signal })) as [], workspace: "copied" })) as never,
        think: fromPromise(think!) as never,
        decide: fromPromise(decide!) as never,
        runTool: fromPromise<unknown, { action: SessionAction }>(
          ({ input, signal }) => (ran.push({ action: input.action, session: actor.getSnapshot() }), runTool!({ signal })),
        ) as never,
        collectChanges: fromPromise(collect!) as never,
        recordApproval: fromPromise<unknown, ApprovalRecord>(({ input, signal }) => (recorded.push(input), record({ signal }))) as never,
      },
    });
    const actor = createActor(machine, { clock, input: INPUT });
    const { reach } = stateTrail(actor, key);
    const done = new Promise<SessionOutput>((resolve) => actor.subscribe({ complete: () => resolve(actor.getSnapshot().output!) }));
    actor.start();
    for (const [i, step] of steps.entries()) {
      const e = step.event;
      if (e.type === "CANCEL" || e.type === "STOP" || e.type === "END") actor.send(e as never);
      if (e.type.startsWith("xstate.after.wallTime")) clock.increment(60_000);
      const sandbox = actor.getSnapshot().children.sandbox as { send(e: unknown): void } | undefined;
      if (e.type === "xstate.snapshot.sandbox") sandbox?.send({ type: "BOOTED" });
      if (e.type === "xstate.done.actor.sandbox" && !steps[i - 1]?.state.matches({ active: "closing" })) sandbox?.send({ type: "DIE" });
      if (e.type === "xstate.done.actor.approval") {
        const o = (e as unknown as { output: { outcome: string } }).output;
        const shown = actor.getSnapshot().context.decision?.actionHash ?? "";
        actor.send(o.outcome === "approved" ? { type: "APPROVE", actionHash: shown } : { type: "DENY", reason: "no" });
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
        failure: { code: "EAUDIT", message: expect.stringMatching(/^the audit log could not be written: .*; nothing more was run$/) },
      });
      expect(steps.slice(auditFailed + 1).some((s) => /actor\.(runTool|think|approval|collectChanges)$/.test(s.event.type))).toBe(false);
    }
    // A reply cut off at the model's output limit: neither its tool calls nor "done" are taken; the model thinks again.
    for (const s of steps) {
      if (s.event.type === "xstate.done.actor.think" && (s.event as unknown as { output: ModelTurn }).output.stop === "max_tokens") {
        expect(s.state.matches({ active: "acting" }) || s.state.matches({ active: "collecting" })).toBe(false);
      }
    }
    expect(actor.getSnapshot().children.sandbox).toBeUndefined();
    // A red action (or the changes) runs only once its approval, naming its hash, is recorded; and
    // what runs is the action the session held when it asked: the same route as a green call.
    const approvedRuns = ran.filter((r) => r.session.context.decision?.decision === "red");
    expect(approvedRuns.length).toBe(steps.filter((s) => s.event.type === "xstate.done.actor.recordApproval" && s.state.matches({ active: "running" })).length);
    for (const { action, session } of approvedRuns) {
      const { decision: held, recording } = session.context;
      expect(recording?.output).toMatchObject({ outcome: "approved", by: "user", actionHash: held!.actionHash });
      expect(action).toBe(held!.action);
    }
    for (const { action, session } of ran) if (session.context.decision?.decision === "green") expect(action).toBe(session.context.decision.action);
    // Each answer goes to the audit log with what it was about: the red call in hand, or the changes' card.
    for (const r of recorded) {
      if (r.subject.kind === "tool") expect(r).toMatchObject({ output: { summary: "exec true", actionHash: "r".repeat(64) }, subject: { call } });
      else expect(r).toMatchObject({ output: { summary: changes.summary, actionHash: changes.actionHash }, subject: { card: changes.card } });
    }
    // A request the session's own end cancelled is recorded as the session's doing, not the user's.
    for (const r of recorded) {
      if (r.output.outcome !== "cancelled") continue;
      expect(r.output.by).toBe("session");
      // With the session's own reason to end (unless recording it failed: then that is the reason).
      if (output.outcome !== "failed") expect(r.output.reason).toBe(output.reason);
    }
    // Every tool call the model made was answered before the model was asked again.
    const msgs = actor.getSnapshot().context.messages;
    msgs.forEach((m, n) => {
      if (m.role === "assistant" && m.toolCalls?.length && msgs[n + 1]) expect(msgs[n + 1]!.role).toBe("tool");
    });
  });
});

describe("agent session at the cliff", () => {
  it("runs only the action whose hash was approved, once its answer is recorded, through the same route as a green call", async () => {
    const held = decision("red");
    const order: string[] = [];
    const ran: SessionAction[] = [];
    let thought = 0;
    const machine = agentSessionMachine.provide({
      actors: {
        sandbox: stubSandbox as never,
        prepare: fromPromise(async () => ({ tools: [], workspace: "copied" })) as never,
        think: fromPromise(async () => (thought++ === 0 ? turn(true) : turn(false))) as never,
        decide: fromPromise(async () => held) as never,
        runTool: fromPromise<unknown, { action: SessionAction }>(async ({ input }) => (order.push("run"), ran.push(input.action), { content: "ok", isError: false })) as never,
        recordApproval: fromPromise<unknown, ApprovalRecord>(async ({ input }) => void order.push(`record ${input.output.outcome} by ${input.output.by}`)) as never,
        collectChanges: fromPromise(async () => null) as never,
      },
    });
    const actor = createActor(machine, { input: INPUT }).start();
    (actor.getSnapshot().children.sandbox as { send(e: unknown): void }).send({ type: "BOOTED" });
    await waitFor(actor, (s) => s.matches({ active: "awaitingApproval" }));
    // An answer for another action (it changed since it was shown) is refused: nothing runs, the request stays.
    actor.send({ type: "APPROVE", actionHash: "b".repeat(64) });
    expect(actor.getSnapshot().matches({ active: "awaitingApproval" })).toBe(true);
    expect(order).toEqual([]);
    actor.send({ type: "APPROVE", actionHash: held.actionHash });
    await waitFor(actor, (s) => s.status === "done");
    expect(order).toEqual(["record approved by user", "run"]);
    expect(ran).toEqual([held.action]);
    expect(actor.getSnapshot().context.messages.find((m) => m.role === "tool")).toMatchObject({ content: "ok" });
  });
});
