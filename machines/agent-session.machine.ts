// One agent session: the reasoning loop as a statechart. The model thinks; each tool call it
// makes is decided by the policy (green runs at once in the session's sandbox, red waits at the
// approval cliff as an approval-request child, denied is answered as such); the results go
// back to the model; and so on until the model is done, a budget (steps, tokens, wall time)
// runs out, the session is cancelled, or something fails. Changes to the project come back to
// the host only at the end, as one more action through the cliff: applying them. What a red
// action will do is data in the session's context (the call, or the changes, with its decision);
// the approval request only decides, and an approved action runs through `running`, the same
// route as a green one. The session owns its sandbox (a vm child, invoked for the whole of
// `active`): every way out of `active` first passes `closing`, which stops the vm and waits for
// its teardown, so no sandbox outlives its session. Every decision goes to the audit log before
// the session acts on it (the verdict inside `decide`, each answer at the cliff in
// `recordingApproval`, a request the session's own end cancelled included); one that cannot be
// written ends the session, failed, with code EAUDIT.
import { assign, enqueueActions, forwardTo, fromPromise, sendTo, setup, type AnyActorRef } from "xstate";
import type { FileChange } from "../core/diff-card.ts";
import type { ModelMessage, ModelTurn, ToolCall, ToolSpec } from "../core/model.ts";
import type { PolicyAction } from "../core/policy.ts";
import type { ApprovalRecord } from "./approval-audit.ts";
import { approvalRequestMachine } from "./approval-request.machine.ts";
import { notProvided } from "./not-provided.ts";
import { mcpChildId, mcpServerOfChild, sessionSandboxId } from "../core/ids.ts";
import { vmMachine, type SandboxHandle, type VmInput } from "./vm.machine.ts";
import { mcpConnectionMachine } from "./mcp-connection.machine.ts";
import type { AuditLogError } from "../core/errors.ts";

export interface SessionBudgets {
  /** Model turns. */
  readonly maxSteps: number;
  /** Input plus output tokens over the whole session. */
  readonly maxTokens: number;
  readonly maxWallMs: number;
}

export const DEFAULT_BUDGETS: SessionBudgets = { maxSteps: 30, maxTokens: 200_000, maxWallMs: 30 * 60_000 };

export interface SessionInput {
  readonly id: string;
  readonly task: string;
  readonly system: string;
  readonly sandbox: Omit<VmInput, "id">;
  readonly budgets?: Partial<SessionBudgets>;
  /** How long a human has to answer an approval request. */
  readonly approvalDeadlineMs?: number;
  /** false when nobody can answer approvals (--approve deny, no terminal). */
  readonly interactive: boolean;
  /** The MCP servers whose tools the session offers: one connection child each, closed with the session. */
  readonly mcpServers?: readonly string[];
}

/**
 * Something the session does once it is allowed: a tool call of the model (with how it runs, as
 * the policy judged it), or, when the model is done, applying the changes it made to the project.
 */
export type SessionAction = { readonly kind: "tool"; readonly call: ToolCall; readonly target: PolicyAction } | { readonly kind: "apply"; readonly changes: readonly FileChange[] };

/** What the policy said about an action, with what a human would see if it is red: plain data, held until the action is answered. */
export interface ActionDecision {
  readonly decision: "green" | "red" | "denied";
  readonly reason: string;
  readonly actionHash: string;
  readonly card: unknown;
  readonly summary: string;
  readonly action: SessionAction;
}

/** A tool's answer for the model. */
export interface ToolResult {
  readonly content: string;
  readonly isError: boolean;
}

export type SessionEnd = "done" | "failed" | "cancelled" | "budgetExceeded";

/**
 * The code an actor's error carries when the audit log could not be written (actors/audit/audit-log.ts).
 * A decision that cannot be recorded must not be acted on: the session ends, failed, on it.
 */
export const AUDIT_FAILED: AuditLogError["code"] = "EAUDIT";

/** A failed session reports like every supervised child: `failure.message` says why. */
export type SessionOutput = SessionSummary &
  (
    | { readonly outcome: "failed"; readonly failure: { readonly stage: "session"; readonly code: string; readonly message: string } }
    | { readonly outcome: Exclude<SessionEnd, "failed"> }
  );

export interface SessionSummary {
  readonly id: string;
  readonly reason: string;
  readonly steps: number;
  readonly tokens: number;
  /** The last thing the model said. */
  readonly answer: string;
  /** What became of the project changes: none made, applied, or not applied (and why). */
  readonly changes: "none" | "applied" | { readonly notApplied: string };
}

export type SessionEvent =
  | { type: "CANCEL"; reason: string }
  /** From the supervisor: the same as CANCEL, for a session stopped with everything else. */
  | { type: "STOP" }
  /** Answers for the approval request currently pending (forwarded to it). */
  | { type: "APPROVE"; actionHash: string }
  | { type: "DENY"; reason?: string }
  /** Raised by the session itself: a reason to end (CANCEL, STOP, the wall-time budget). */
  | { type: "END"; outcome: SessionEnd; reason: string }
  /** One of the session's MCP connection children ended. */
  | { type: `xstate.done.actor.mcp.${string}`; output: unknown }
  | { type: `xstate.error.actor.mcp.${string}`; error: unknown };

interface SessionContext {
  readonly id: string;
  readonly task: string;
  readonly budgets: SessionBudgets;
  readonly approvalDeadlineMs: number;
  readonly interactive: boolean;
  readonly sandboxInput: VmInput;
  readonly mcpServers: readonly string[];
  /** Connection children not yet ended: the session ends only when none is left. */
  mcpLive: readonly string[];
  sandbox: SandboxHandle | null;
  /** The project as copied into the sandbox (opaque to the chart): what the changes are collected against. */
  workspace: unknown;
  tools: readonly ToolSpec[];
  messages: readonly ModelMessage[];
  steps: number;
  tokens: number;
  answer: string;
  /** Tool calls of the model's last turn not yet answered; the first is the one in hand. */
  pending: readonly ToolCall[];
  /** The action in hand (the first pending call, or applying the changes) and the policy's word on it. */
  decision: ActionDecision | null;
  /** The cliff's last answer, for the audit log (and, approved, what lets the action in hand run). */
  recording: ApprovalRecord | null;
  changesOutcome: SessionSummary["changes"];
  /** `code`: the failure's, when it has one of its own (else ESESSION). */
  end: { outcome: SessionEnd; reason: string; code?: string } | null;
}

/** The session's MCP connection children, by server name (opaque refs for the actors). */
export type McpChildren = Readonly<Record<string, AnyActorRef>>;

const mcpChildren = (children: Readonly<Record<string, AnyActorRef | undefined>>): McpChildren =>
  Object.fromEntries(
    Object.entries(children).flatMap(([id, ref]) => {
      const server = mcpServerOfChild(id);
      return server !== null && ref ? [[server, ref] as const] : [];
    }),
  );

/** What the model is told when its reply was cut off at its output limit (nothing of it was run). */
export const TRUNCATED_NOTE =
  "Your last reply was cut off at your output token limit, so none of its tool calls were run and the task is not treated as done. Continue from where you were, in shorter steps.";

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const auditFailure = (error: unknown) => ({
  outcome: "failed" as const,
  reason: `the audit log could not be written: ${errorText(error)}; nothing more was run`,
  code: AUDIT_FAILED,
});
const toolMessage = (call: ToolCall, result: ToolResult): ModelMessage => ({
  role: "tool",
  toolCallId: call.id,
  name: call.name,
  content: result.content,
  ...(result.isError && { isError: true }),
});
const applying = (context: SessionContext) => context.decision?.action.kind === "apply";
const turnUsage = (context: SessionContext, turn: ModelTurn) => ({
  steps: context.steps + 1,
  tokens: context.tokens + turn.usage.inputTokens + turn.usage.outputTokens,
});

export const agentSessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
    output: {} as SessionOutput,
  },
  actors: {
    sandbox: vmMachine,
    approval: approvalRequestMachine,
    mcp: mcpConnectionMachine,
    /** Copies the project into the sandbox; resolves with the tools on offer (built-ins and MCP) and the copy, for collecting. */
    prepare: fromPromise<{ tools: ToolSpec[]; workspace: unknown }, { sessionId: string; sandbox: SandboxHandle; mcp: McpChildren }>(notProvided("agent-session", "prepare")),
    /** One model turn. */
    think: fromPromise<ModelTurn, { sessionId: string; messages: readonly ModelMessage[]; tools: readonly ToolSpec[] }>(notProvided("agent-session", "think")),
    /** The policy's verdict on a tool call, with its diff card and action hash; green and denied ones are recorded here. */
    decide: fromPromise<ActionDecision, { sessionId: string; call: ToolCall; mcp: McpChildren }>(notProvided("agent-session", "decide")),
    /** Runs an allowed action: a green call, or a red one (or the changes) once approved. */
    runTool: fromPromise<ToolResult, { sessionId: string; sandbox: SandboxHandle; vm?: AnyActorRef; action: SessionAction; mcp: McpChildren }>(
      notProvided("agent-session", "runTool"),
    ),
    /** Writes the cliff's answer to the audit log; rejects (code EAUDIT) when it cannot. */
    recordApproval: fromPromise<void, ApprovalRecord>(notProvided("agent-session", "recordApproval")),
    /** The project files the sandbox changed, as the decision to apply them, or null when it changed none. */
    collectChanges: fromPromise<ActionDecision | null, { sessionId: string; sandbox: SandboxHandle; workspace: unknown }>(notProvided("agent-session", "collectChanges")),
  },
  guards: {
    overBudget: ({ context }) => context.steps >= context.budgets.maxSteps || context.tokens >= context.budgets.maxTokens,
  },
  actions: {
    mcpEnded: assign({
      mcpLive: ({ context, event }) => context.mcpLive.filter((name) => !event.type.endsWith(`.actor.${mcpChildId(name)}`)),
    }),
    /** Asks every connection child still there to close (each cancels its calls, then its session). */
    closeMcp: enqueueActions(({ context, enqueue }) => {
      for (const name of context.mcpLive) enqueue.sendTo(mcpChildId(name), { type: "STOP" });
    }),
    // The first reason to end is the one that counts: a timer firing while the session closes
    // for another reason does not relabel it.
    ending: assign({ end: ({ context }, params: { outcome: SessionEnd; reason: string; code?: string }) => context.end ?? params }),
    /** Answers the call in hand and moves on to the next. */
    answer: assign({
      messages: ({ context }, params: ToolResult) => [...context.messages, toolMessage(context.pending[0]!, params)],
      pending: ({ context }) => context.pending.slice(1),
      decision: null,
    }),
    /** What became of the changes, and so of the session: it ends here either way. */
    applied: assign(({ context }, params: { notApplied: string | null; failed?: boolean }) => ({
      changesOutcome: params.notApplied === null ? ("applied" as const) : { notApplied: params.notApplied },
      end:
        context.end ??
        (params.notApplied === null
          ? { outcome: "done" as const, reason: "the model is done; its changes were applied" }
          : { outcome: params.failed ? ("failed" as const) : ("done" as const), reason: `the model is done; its changes were not applied (${params.notApplied})` }),
    })),
  },
  delays: {
    wallTime: ({ context }) => context.budgets.maxWallMs,
  },
}).createMachine({
  id: "session",
  context: ({ input }) => ({
    id: input.id,
    task: input.task,
    budgets: { ...DEFAULT_BUDGETS, ...input.budgets },
    approvalDeadlineMs: input.approvalDeadlineMs ?? 10 * 60_000,
    interactive: input.interactive,
    sandboxInput: { ...input.sandbox, id: sessionSandboxId(input.id) },
    mcpServers: input.mcpServers ?? [],
    mcpLive: [],
    sandbox: null,
    workspace: null,
    tools: [],
    messages: [
      { role: "system", content: input.system },
      { role: "user", content: input.task },
    ],
    steps: 0,
    tokens: 0,
    answer: "",
    pending: [],
    decision: null,
    recording: null,
    changesOutcome: "none",
    end: null,
  }),
  initial: "active",
  // A connection that ended (closed, or failed for good) offers no more tools.
  on: {
    "xstate.done.actor.mcp.*": { actions: "mcpEnded" },
    "xstate.error.actor.mcp.*": { actions: "mcpEnded" },
  },
  states: {
    active: {
      entry: enqueueActions(({ context, enqueue }) => {
        for (const server of context.mcpServers) {
          enqueue.spawnChild("mcp", { id: mcpChildId(server), input: { id: `${context.id}-mcp-${server}`, server } });
        }
        enqueue.assign({ mcpLive: context.mcpServers });
      }),
      invoke: {
        id: "sandbox",
        src: "sandbox",
        input: ({ context }) => context.sandboxInput,
        onSnapshot: {
          // Once closing, the sandbox was told to stop: a vm never becomes ready after that.
          guard: ({ context, event }) => context.end === null && typeof event.snapshot.value === "object" && "running" in event.snapshot.value,
          actions: assign({ sandbox: ({ context, event }) => context.sandbox ?? event.snapshot.context.sandbox }),
        },
        // The sandbox ended by itself (it died, or never came up): nothing more can run.
        onDone: {
          target: "draining",
          actions: assign({
            end: ({ context, event }) =>
              context.end ?? {
                outcome: "failed" as const,
                reason: `the session's sandbox ended: ${event.output.outcome === "failed" ? event.output.failure.message : "it stopped"}`,
              },
          }),
        },
      },
      after: {
        wallTime: {
          actions: enqueueActions(({ context, enqueue }) =>
            enqueue.raise({
              type: "END",
              outcome: "budgetExceeded",
              reason: `the session ran past its wall-time budget of ${Math.round(context.budgets.maxWallMs / 1000)} s`,
            }),
          ),
        },
      },
      on: {
        CANCEL: { actions: enqueueActions(({ enqueue, event }) => enqueue.raise({ type: "END", outcome: "cancelled", reason: event.reason })) },
        STOP: { actions: enqueueActions(({ enqueue }) => enqueue.raise({ type: "END", outcome: "cancelled", reason: "IronClaw is shutting down" })) },
        END: { target: ".closing", actions: { type: "ending", params: ({ event }) => ({ outcome: event.outcome, reason: event.reason }) } },
      },
      initial: "preparing",
      states: {
        preparing: {
          initial: "booting",
          states: {
            booting: { always: { guard: ({ context }) => context.sandbox !== null, target: "copying" } },
            copying: {
              invoke: {
                id: "prepare",
                src: "prepare",
                input: ({ context, self }) => ({ sessionId: context.id, sandbox: context.sandbox!, mcp: mcpChildren(self.getSnapshot().children) }),
                onDone: { target: "#session.active.thinking", actions: assign({ tools: ({ event }) => event.output.tools, workspace: ({ event }) => event.output.workspace }) },
                onError: {
                  target: "#session.active.closing",
                  actions: { type: "ending", params: ({ event }) => ({ outcome: "failed" as const, reason: `preparing the workspace failed: ${errorText(event.error)}` }) },
                },
              },
            },
          },
        },
        thinking: {
          always: {
            guard: "overBudget",
            target: "closing",
            actions: {
              type: "ending",
              params: ({ context }) => ({
                outcome: "budgetExceeded" as const,
                reason:
                  context.steps >= context.budgets.maxSteps ? `the model used its ${context.budgets.maxSteps} steps` : `the session used its ${context.budgets.maxTokens} tokens`,
              }),
            },
          },
          invoke: {
            id: "think",
            src: "think",
            input: ({ context }) => ({ sessionId: context.id, messages: context.messages, tools: context.tools }),
            onDone: [
              {
                // Cut off at the model's output limit: neither its tool calls (their arguments may
                // be cut too) nor "done" (its work may be half-finished) can be taken at its word.
                // Nothing of the turn runs; the model is told and goes on, within its budgets.
                guard: ({ event }) => event.output.stop === "max_tokens",
                target: "observing",
                actions: assign(({ context, event }) => ({
                  ...turnUsage(context, event.output),
                  messages: [...context.messages, { role: "assistant" as const, content: event.output.text || "(cut off)" }, { role: "user" as const, content: TRUNCATED_NOTE }],
                })),
              },
              {
                guard: ({ event }) => event.output.toolCalls.length > 0,
                target: "acting",
                actions: assign(({ context, event }) => ({
                  ...turnUsage(context, event.output),
                  answer: event.output.text || context.answer,
                  messages: [...context.messages, { role: "assistant" as const, content: event.output.text, toolCalls: event.output.toolCalls }],
                  pending: event.output.toolCalls,
                })),
              },
              {
                target: "collecting",
                actions: assign(({ context, event }) => ({
                  ...turnUsage(context, event.output),
                  answer: event.output.text,
                  messages: [...context.messages, { role: "assistant" as const, content: event.output.text }],
                })),
              },
            ],
            onError: {
              target: "closing",
              actions: { type: "ending", params: ({ event }) => ({ outcome: "failed" as const, reason: `the model failed: ${errorText(event.error)}` }) },
            },
          },
        },
        acting: {
          always: { guard: ({ context }) => context.pending.length === 0, target: "observing" },
          invoke: {
            id: "decide",
            src: "decide",
            input: ({ context, self }) => ({ sessionId: context.id, call: context.pending[0]!, mcp: mcpChildren(self.getSnapshot().children) }),
            onDone: [
              { guard: ({ event }) => event.output.decision === "green", target: "running", actions: assign({ decision: ({ event }) => event.output }) },
              { guard: ({ event }) => event.output.decision === "red", target: "awaitingApproval", actions: assign({ decision: ({ event }) => event.output }) },
              { target: "acting", reenter: true, actions: { type: "answer", params: ({ event }) => ({ content: `denied by policy: ${event.output.reason}`, isError: true }) } },
            ],
            onError: [
              // The verdict could not be recorded: a green call must not run, and nothing after it.
              {
                guard: ({ event }) => typeof event.error === "object" && event.error !== null && "code" in event.error && event.error.code === AUDIT_FAILED,
                target: "closing",
                actions: { type: "ending", params: ({ event }) => auditFailure(event.error) },
              },
              {
                target: "acting",
                reenter: true,
                actions: { type: "answer", params: ({ event }) => ({ content: `the tool call could not be judged: ${errorText(event.error)}`, isError: true }) },
              },
            ],
          },
        },
        // An allowed action: a green call, or one a human approved (the call, or applying the changes).
        running: {
          invoke: {
            id: "runTool",
            src: "runTool",
            input: ({ context, self }) => ({
              sessionId: context.id,
              sandbox: context.sandbox!,
              vm: self.getSnapshot().children.sandbox,
              action: context.decision!.action,
              mcp: mcpChildren(self.getSnapshot().children),
            }),
            onDone: [
              { guard: ({ context }) => applying(context), target: "closing", actions: { type: "applied", params: { notApplied: null } } },
              { target: "acting", actions: { type: "answer", params: ({ event }) => event.output } },
            ],
            onError: [
              {
                guard: ({ context }) => applying(context),
                target: "closing",
                actions: { type: "applied", params: ({ event }) => ({ notApplied: errorText(event.error), failed: true }) },
              },
              { target: "acting", actions: { type: "answer", params: ({ event }) => ({ content: errorText(event.error), isError: true }) } },
            ],
          },
        },
        // A red action (or the changes) waits for a human; the request only decides.
        awaitingApproval: {
          invoke: {
            id: "approval",
            src: "approval",
            input: ({ context }) => ({
              id: `${context.id}-${applying(context) ? "apply" : `approval-${context.steps}-${context.pending.length}`}`,
              sessionId: context.id,
              actionHash: context.decision!.actionHash,
              card: context.decision!.card,
              summary: context.decision!.summary,
              deadlineMs: context.approvalDeadlineMs,
              interactive: context.interactive,
            }),
            onDone: {
              target: "recordingApproval",
              actions: assign({
                recording: ({ context, event }) => {
                  const { action, card } = context.decision!;
                  return { output: event.output, subject: action.kind === "tool" ? { kind: "tool" as const, call: action.call } : { kind: "apply" as const, card } };
                },
              }),
            },
          },
          on: {
            APPROVE: { actions: forwardTo("approval") },
            DENY: { actions: forwardTo("approval") },
            // The session ends while a human is asked: the request is cancelled (by the session),
            // and that answer is recorded like any other before the session closes.
            END: {
              actions: [
                { type: "ending", params: ({ event }) => ({ outcome: event.outcome, reason: event.reason }) },
                sendTo("approval", ({ event }) => ({ type: "CANCEL" as const, reason: event.reason })),
              ],
            },
          },
        },
        // Every answer at the cliff is recorded before the session acts on it; one that cannot be ends it.
        recordingApproval: {
          invoke: {
            id: "recordApproval",
            src: "recordApproval",
            input: ({ context }) => context.recording!,
            onDone: [
              { guard: ({ context }) => context.end !== null, target: "closing" },
              { guard: ({ context }) => context.recording?.output.outcome === "approved", target: "running" },
              {
                guard: ({ context }) => applying(context),
                target: "closing",
                actions: { type: "applied", params: ({ context }) => ({ notApplied: context.recording!.output.reason }) },
              },
              {
                target: "acting",
                actions: { type: "answer", params: ({ context }) => ({ content: `not run: ${context.recording!.output.reason}`, isError: true }) },
              },
            ],
            // Even when the session was already ending (its end cancelled the request): an answer
            // that cannot be recorded is what the session reports.
            onError: { target: "closing", actions: assign({ end: ({ event }) => auditFailure(event.error) }) },
          },
        },
        observing: { always: "thinking" },
        // The model is done: whatever it changed in the project comes back through the cliff.
        collecting: {
          invoke: {
            id: "collectChanges",
            src: "collectChanges",
            input: ({ context }) => ({ sessionId: context.id, sandbox: context.sandbox!, workspace: context.workspace }),
            onDone: [
              {
                guard: ({ event }) => event.output === null,
                target: "closing",
                actions: { type: "ending", params: { outcome: "done" as const, reason: "the model is done; it changed no files" } },
              },
              { target: "awaitingApproval", actions: assign({ decision: ({ event }) => event.output }) },
            ],
            onError: {
              target: "closing",
              actions: { type: "ending", params: ({ event }) => ({ outcome: "failed" as const, reason: `collecting the changes failed: ${errorText(event.error)}` }) },
            },
          },
        },
        // Every way out: stop the sandbox and wait for its teardown (the vm bounds it).
        closing: {
          entry: [sendTo("sandbox", { type: "STOP" }), "closeMcp"],
          on: { END: {} },
        },
      },
    },
    // The sandbox is gone; the MCP connections close (bounded by their own closeMs).
    draining: {
      entry: "closeMcp",
      always: { guard: ({ context }) => context.mcpLive.length === 0, target: "ended" },
    },
    ended: {
      always: [
        { guard: ({ context }) => context.end?.outcome === "done", target: "done" },
        { guard: ({ context }) => context.end?.outcome === "cancelled", target: "cancelled" },
        { guard: ({ context }) => context.end?.outcome === "budgetExceeded", target: "budgetExceeded" },
        { target: "failed" },
      ],
    },
    done: { type: "final" },
    failed: { type: "final" },
    cancelled: { type: "final" },
    budgetExceeded: { type: "final" },
  },
  output: ({ context }): SessionOutput => {
    const summary: SessionSummary = {
      id: context.id,
      reason: context.end?.reason ?? "the session ended",
      steps: context.steps,
      tokens: context.tokens,
      answer: context.answer,
      changes: context.changesOutcome,
    };
    const outcome = context.end?.outcome ?? "failed";
    return outcome === "failed" ? { ...summary, outcome, failure: { stage: "session", code: context.end?.code ?? "ESESSION", message: summary.reason } } : { ...summary, outcome };
  },
});

export type AgentSessionMachine = typeof agentSessionMachine;
