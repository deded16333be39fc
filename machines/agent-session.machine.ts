// One agent session: the reasoning loop as a statechart. The model thinks; each tool call it
// makes is decided by the policy (green runs at once in the session's sandbox, red waits at the
// approval cliff as an approval-request child, denied is answered as such); the results go
// back to the model; and so on until the model is done, a budget (steps, tokens, wall time)
// runs out, the session is cancelled, or something fails. Changes to the project come back to
// the host only at the end, as one diff through the cliff. The session owns its sandbox (a vm
// child, invoked for the whole of `active`): every way out of `active` first passes `closing`,
// which stops the vm and waits for its teardown, so no sandbox outlives its session. Every
// decision goes to the audit log before the session acts on it or goes on (the verdict inside
// `decide`, each answer at the cliff in `recordApproval`); one that cannot be written ends the
// session, failed, with code EAUDIT.
import { and, assign, enqueueActions, fromPromise, setup, type AnyActorRef } from "xstate";
import type { ModelMessage, ModelTurn, ToolCall, ToolSpec } from "../core/model.ts";
import { approvalRequestMachine, type ApprovalOutput } from "./approval-request.machine.ts";
import { notProvided } from "./not-provided.ts";
import { mcpChildId, mcpServerOfChild, sessionSandboxId } from "../core/ids.ts";
import { vmMachine, type SandboxHandle, type VmInput, type VmOutput } from "./vm.machine.ts";
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

/** What the policy said about one tool call, with what a human would see if it is red. */
export interface ToolDecision {
  readonly decision: "green" | "red" | "denied";
  readonly reason: string;
  readonly actionHash: string;
  readonly card: unknown;
  readonly summary: string;
}

/** A tool's answer for the model. */
export interface ToolResult {
  readonly content: string;
  readonly isError: boolean;
}

/** The project changes the sandbox made, as the approval for applying them sees them. */
export interface WorkspaceChanges {
  readonly count: number;
  readonly actionHash: string;
  readonly card: unknown;
  readonly summary: string;
}

export type SessionEnd = "done" | "failed" | "cancelled" | "budgetExceeded";

/** What an answer at the cliff was about: a red tool call, or the session's changes (with their card). */
export type ApprovalSubject = { readonly kind: "tool"; readonly call: ToolCall } | { readonly kind: "apply"; readonly card: unknown };

/** An answer at the cliff, for the audit log (recordApproval), with what it was about. */
export interface ApprovalRecord {
  readonly session: string;
  readonly output: ApprovalOutput;
  readonly summary: string;
  readonly subject: ApprovalSubject;
}

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
  tools: readonly ToolSpec[];
  messages: readonly ModelMessage[];
  steps: number;
  tokens: number;
  answer: string;
  /** Tool calls of the model's last turn not yet answered; the first is the one in hand. */
  pending: readonly ToolCall[];
  decision: ToolDecision | null;
  /** The cliff's last answer, while the audit log is told of it. */
  recording: ApprovalRecord | null;
  changes: WorkspaceChanges | null;
  changesOutcome: SessionSummary["changes"];
  /** `code`: the failure's, when it has one of its own (else ESESSION). */
  end: { outcome: SessionEnd; reason: string; code?: string } | null;
}

/**
 * Sends the event on to a child if it is there. (It always is while the session runs; only a
 * model walk of this chart, which runs no children, lacks it.)
 */
const toChild = (id: string, event?: { type: string }): never =>
  enqueueActions(({ enqueue, event: current, self }) => {
    const ref = (self.getSnapshot() as { children?: Record<string, AnyActorRef> } | undefined)?.children?.[id];
    if (ref) enqueue.sendTo(ref, event ?? current);
  }) as never;

/** The session's MCP connection children, by server name (opaque refs for the actors). */
export type McpChildren = Readonly<Record<string, AnyActorRef>>;

function mcpChildren(self: { getSnapshot(): unknown }): McpChildren {
  const children = (self.getSnapshot() as { children?: Record<string, AnyActorRef> } | undefined)?.children ?? {};
  return Object.fromEntries(
    Object.entries(children).flatMap(([id, ref]) => {
      const server = mcpServerOfChild(id);
      return server === null ? [] : [[server, ref] as const];
    }),
  );
}

/** The session's vm child: commands go to it, so its chart says when the sandbox is busy. */
const sandboxChild = (self: { getSnapshot(): unknown }): AnyActorRef | undefined =>
  (self.getSnapshot() as { children?: Record<string, AnyActorRef> } | undefined)?.children?.sandbox;

/** Asks every connection child still there to close (each cancels its calls, then its session). */
const closeMcp = enqueueActions(({ context, enqueue, self }) => {
  const children = mcpChildren(self);
  for (const name of context.mcpLive) if (children[name]) enqueue.sendTo(children[name]!, { type: "STOP" });
}) as never;

/** What an approval request is made from: the action's hash, card and summary, and who can answer. */
const approvalInput = (context: SessionContext, name: string, action: { actionHash: string; card: unknown; summary: string }) => ({
  id: `${context.id}-${name}`,
  actionHash: action.actionHash,
  card: action.card,
  summary: action.summary,
  deadlineMs: context.approvalDeadlineMs,
  interactive: context.interactive,
});

/** What the model is told when its reply was cut off at its output limit (nothing of it was run). */
export const TRUNCATED_NOTE =
  "Your last reply was cut off at your output token limit, so none of its tool calls were run and the task is not treated as done. Continue from where you were, in shorter steps.";

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
/** `recorded`: the cliff's answer that was being recorded, if any (an approved action has run by then: the record holds its outcome). */
const auditFailure = (error: unknown, recorded?: ApprovalRecord | null) => {
  const ran = recorded?.output.outcome === "done" || recorded?.output.outcome === "failed" ? "the approved action had run; " : "";
  return { outcome: "failed" as const, reason: `the audit log could not be written: ${errorText(error)}; ${ran}nothing more was run`, code: AUDIT_FAILED };
};

/** How the session ends once the final diff's answer is recorded. */
function appliedEnd(o: ApprovalOutput): { outcome: SessionEnd; reason: string } {
  if (o.outcome === "done") return { outcome: "done", reason: "the model is done; its changes were applied" };
  return { outcome: o.outcome === "failed" ? "failed" : "done", reason: `the model is done; its changes were not applied (${o.outcome === "failed" ? o.error : o.reason})` };
}
const toolMessage = (call: ToolCall, result: ToolResult): ModelMessage => ({
  role: "tool",
  toolCallId: call.id,
  name: call.name,
  content: result.content,
  ...(result.isError && { isError: true }),
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
    /** Copies the project into the sandbox; resolves with the tools on offer (built-ins and MCP). */
    prepare: fromPromise<ToolSpec[], { sessionId: string; sandbox: SandboxHandle; mcp: McpChildren }>(notProvided("agent-session", "prepare")),
    /** One model turn. */
    think: fromPromise<ModelTurn, { sessionId: string; messages: readonly ModelMessage[]; tools: readonly ToolSpec[] }>(notProvided("agent-session", "think")),
    /** The policy's verdict on a tool call, with its diff card and action hash. */
    decide: fromPromise<ToolDecision, { sessionId: string; sandbox: SandboxHandle; vm?: AnyActorRef; call: ToolCall; mcp: McpChildren }>(notProvided("agent-session", "decide")),
    /** Runs a green tool call (red ones run inside their approval request). */
    runTool: fromPromise<ToolResult, { sessionId: string; sandbox: SandboxHandle; vm?: AnyActorRef; call: ToolCall; mcp: McpChildren }>(notProvided("agent-session", "runTool")),
    /** Writes the cliff's answer to the audit log; rejects (code EAUDIT) when it cannot. */
    recordApproval: fromPromise<void, ApprovalRecord>(notProvided("agent-session", "recordApproval")),
    /** The project files the sandbox changed, or null when it changed none. */
    collectChanges: fromPromise<WorkspaceChanges | null, { sessionId: string; sandbox: SandboxHandle }>(notProvided("agent-session", "collectChanges")),
  },
  guards: {
    sandboxReady: ({ event }) => {
      const snap = (event as unknown as { snapshot?: { value?: unknown } }).snapshot;
      return typeof snap?.value === "object" && snap.value !== null && "running" in snap.value;
    },
    moreCalls: ({ context }) => context.pending.length > 0,
    overBudget: ({ context }) => context.steps >= context.budgets.maxSteps || context.tokens >= context.budgets.maxTokens,
    green: ({ event }) => (event as unknown as { output: ToolDecision }).output.decision === "green",
    red: ({ event }) => (event as unknown as { output: ToolDecision }).output.decision === "red",
    truncated: ({ event }) => (event as unknown as { output: ModelTurn }).output.stop === "max_tokens",
    wantsTools: ({ event }) => (event as unknown as { output: ModelTurn }).output.toolCalls.length > 0,
    noChanges: ({ event }) => (event as unknown as { output: WorkspaceChanges | null }).output === null,
    auditFailed: ({ event }) => (event as unknown as { error?: { code?: unknown } }).error?.code === AUDIT_FAILED,
  },
  actions: {
    mcpEnded: assign({
      mcpLive: ({ context, event }) => context.mcpLive.filter((name) => !event.type.endsWith(`.actor.${mcpChildId(name)}`)),
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
    changes: null,
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
          guard: and(["sandboxReady", ({ context }) => context.end === null]),
          actions: assign({ sandbox: ({ context, event }) => context.sandbox ?? (event.snapshot.context as { sandbox: SandboxHandle | null }).sandbox }),
        },
        // The sandbox ended by itself (it died, or never came up): nothing more can run.
        onDone: {
          target: "draining",
          actions: assign({
            end: ({ context, event }) =>
              context.end ?? {
                outcome: "failed" as const,
                reason: `the session's sandbox ended: ${(event.output as VmOutput).outcome === "failed" ? (event.output as Extract<VmOutput, { outcome: "failed" }>).failure.message : "it stopped"}`,
              },
          }),
        },
      },
      after: {
        wallTime: {
          target: ".closing",
          actions: {
            type: "ending",
            params: ({ context }) => ({
              outcome: "budgetExceeded" as const,
              reason: `the session ran past its wall-time budget of ${Math.round(context.budgets.maxWallMs / 1000)} s`,
            }),
          },
        },
      },
      on: {
        CANCEL: { target: ".closing", actions: { type: "ending", params: ({ event }) => ({ outcome: "cancelled" as const, reason: event.reason }) } },
        STOP: { target: ".closing", actions: { type: "ending", params: { outcome: "cancelled" as const, reason: "IronClaw is shutting down" } } },
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
                input: ({ context, self }) => ({ sessionId: context.id, sandbox: context.sandbox!, mcp: mcpChildren(self) }),
                onDone: { target: "#session.active.thinking", actions: assign({ tools: ({ event }) => event.output }) },
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
                guard: "truncated",
                target: "observing",
                actions: assign(({ context, event }) => ({
                  steps: context.steps + 1,
                  tokens: context.tokens + event.output.usage.inputTokens + event.output.usage.outputTokens,
                  messages: [...context.messages, { role: "assistant" as const, content: event.output.text || "(cut off)" }, { role: "user" as const, content: TRUNCATED_NOTE }],
                })),
              },
              {
                guard: "wantsTools",
                target: "acting",
                actions: assign(({ context, event }) => ({
                  steps: context.steps + 1,
                  tokens: context.tokens + event.output.usage.inputTokens + event.output.usage.outputTokens,
                  answer: event.output.text || context.answer,
                  messages: [...context.messages, { role: "assistant" as const, content: event.output.text, toolCalls: event.output.toolCalls }],
                  pending: event.output.toolCalls,
                })),
              },
              {
                target: "applying",
                actions: assign(({ context, event }) => ({
                  steps: context.steps + 1,
                  tokens: context.tokens + event.output.usage.inputTokens + event.output.usage.outputTokens,
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
            input: ({ context, self }) => ({ sessionId: context.id, sandbox: context.sandbox!, vm: sandboxChild(self), call: context.pending[0]!, mcp: mcpChildren(self) }),
            onDone: [
              { guard: "green", target: "running", actions: assign({ decision: ({ event }) => event.output }) },
              { guard: "red", target: "awaitingApproval", actions: assign({ decision: ({ event }) => event.output }) },
              { target: "acting", reenter: true, actions: { type: "answer", params: ({ event }) => ({ content: `denied by policy: ${event.output.reason}`, isError: true }) } },
            ],
            onError: [
              // The verdict could not be recorded: a green call must not run, and nothing after it.
              { guard: "auditFailed", target: "closing", actions: { type: "ending", params: ({ event }) => auditFailure(event.error) } },
              {
                target: "acting",
                reenter: true,
                actions: { type: "answer", params: ({ event }) => ({ content: `the tool call could not be judged: ${errorText(event.error)}`, isError: true }) },
              },
            ],
          },
        },
        running: {
          invoke: {
            id: "runTool",
            src: "runTool",
            input: ({ context, self }) => ({ sessionId: context.id, sandbox: context.sandbox!, vm: sandboxChild(self), call: context.pending[0]!, mcp: mcpChildren(self) }),
            onDone: { target: "acting", actions: { type: "answer", params: ({ event }) => event.output } },
            onError: { target: "acting", actions: { type: "answer", params: ({ event }) => ({ content: errorText(event.error), isError: true }) } },
          },
        },
        awaitingApproval: {
          invoke: {
            id: "approval",
            src: "approval",
            input: ({ context }) => approvalInput(context, `approval-${context.steps}-${context.pending.length}`, context.decision!),
            onDone: {
              target: "recordingApproval",
              actions: [
                // Before `answer` moves on from the call in hand: the record names it.
                assign({
                  recording: ({ context, event }) => ({
                    session: context.id,
                    output: event.output as ApprovalOutput,
                    summary: context.decision?.summary ?? "",
                    subject: { kind: "tool" as const, call: context.pending[0]! },
                  }),
                }),
                {
                  type: "answer",
                  params: ({ event }) => {
                    const o = event.output as ApprovalOutput;
                    if (o.outcome === "done") return { content: typeof o.result === "string" ? o.result : JSON.stringify(o.result), isError: false };
                    if (o.outcome === "failed") return { content: `approved, but it failed: ${o.error}`, isError: true };
                    return { content: `not run: ${o.reason}`, isError: true };
                  },
                },
              ],
            },
          },
          on: {
            APPROVE: { actions: toChild("approval") },
            DENY: { actions: toChild("approval") },
            CANCEL: {
              target: "closing",
              actions: [toChild("approval"), { type: "ending", params: ({ event }) => ({ outcome: "cancelled" as const, reason: event.reason }) }],
            },
          },
        },
        // Every answer at the cliff is recorded before the session goes on; one that cannot be ends it.
        recordingApproval: {
          invoke: {
            id: "recordApproval",
            src: "recordApproval",
            input: ({ context }) => context.recording!,
            onDone: { target: "acting", actions: assign({ recording: null }) },
            onError: { target: "closing", actions: { type: "ending", params: ({ context, event }) => auditFailure(event.error, context.recording) } },
          },
        },
        observing: { always: "thinking" },
        // The model is done: whatever it changed in the project comes back through the cliff.
        applying: {
          initial: "collecting",
          states: {
            collecting: {
              invoke: {
                id: "collectChanges",
                src: "collectChanges",
                input: ({ context }) => ({ sessionId: context.id, sandbox: context.sandbox! }),
                onDone: [
                  {
                    guard: "noChanges",
                    target: "#session.active.closing",
                    actions: { type: "ending", params: { outcome: "done" as const, reason: "the model is done; it changed no files" } },
                  },
                  { target: "asking", actions: assign({ changes: ({ event }) => event.output }) },
                ],
                onError: {
                  target: "#session.active.closing",
                  actions: { type: "ending", params: ({ event }) => ({ outcome: "failed" as const, reason: `collecting the changes failed: ${errorText(event.error)}` }) },
                },
              },
            },
            asking: {
              invoke: {
                id: "approval",
                src: "approval",
                input: ({ context }) => approvalInput(context, "apply", context.changes!),
                onDone: {
                  target: "recording",
                  actions: assign(({ context, event }) => {
                    const o = event.output as ApprovalOutput;
                    const changesOutcome: SessionSummary["changes"] = o.outcome === "done" ? "applied" : { notApplied: o.outcome === "failed" ? o.error : o.reason };
                    return {
                      changesOutcome,
                      recording: { session: context.id, output: o, summary: context.changes?.summary ?? "", subject: { kind: "apply" as const, card: context.changes?.card } },
                    };
                  }),
                },
              },
              on: {
                APPROVE: { actions: toChild("approval") },
                DENY: { actions: toChild("approval") },
              },
            },
            recording: {
              invoke: {
                id: "recordApproval",
                src: "recordApproval",
                input: ({ context }) => context.recording!,
                onDone: { target: "#session.active.closing", actions: { type: "ending", params: ({ context }) => appliedEnd(context.recording!.output) } },
                onError: { target: "#session.active.closing", actions: { type: "ending", params: ({ context, event }) => auditFailure(event.error, context.recording) } },
              },
            },
          },
        },
        // Every way out: stop the sandbox and wait for its teardown (the vm bounds it).
        closing: {
          entry: [toChild("sandbox", { type: "STOP" }), closeMcp],
          on: { CANCEL: {}, STOP: {} },
        },
      },
    },
    // The sandbox is gone; the MCP connections close (bounded by their own closeMs).
    draining: {
      entry: closeMcp,
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
