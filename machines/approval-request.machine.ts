// One request at the approval cliff: an action that reaches outside the sandbox (writing the
// user's files, an MCP tool that changes the world, network egress) waits here for a human.
// The approval binds to the SHA-256 of the exact action — tool, arguments, the diff and the
// base it applies to — so an answer given for anything else is refused, and a changed action
// needs a new request. No answer before the deadline means denied; a run with nobody to ask is
// denied at once, by policy, and says so. Only an approved action runs (executing), once.
import { assign, emit, fromPromise, setup } from "xstate";
import { notProvided } from "./not-provided.ts";

export interface ApprovalInput {
  readonly id: string;
  /** SHA-256 of the exact action (core/diff-card.ts actionHash); an approval must name it. */
  readonly actionHash: string;
  /** What the human sees: the diff card, as plain data (rendered by the terminal or the inspector). */
  readonly card: unknown;
  /** One line: what will happen if approved. */
  readonly summary: string;
  /** How long a human has to answer; then the request is denied as expired. */
  readonly deadlineMs: number;
  /** false when nobody can answer (no terminal, --approve deny, CI): denied at once. */
  readonly interactive: boolean;
}

export type ApprovalDecision = "approved" | "denied" | "expired" | "cancelled";

export type ApprovalOutput =
  | { readonly outcome: "done"; readonly id: string; readonly actionHash: string; readonly by: "user"; readonly result: unknown }
  | { readonly outcome: "failed"; readonly id: string; readonly actionHash: string; readonly by: "user"; readonly error: string }
  | {
      readonly outcome: "denied" | "expired" | "cancelled";
      readonly id: string;
      readonly actionHash: string;
      readonly by: "user" | "timeout" | "non-interactive" | "owner";
      readonly reason: string;
    };

export type ApprovalEvent =
  /** The human approves the action whose hash they were shown. */
  | { type: "APPROVE"; actionHash: string }
  | { type: "DENY"; reason?: string }
  /** The session that asked is ending (Ctrl-C, budget, its own end). */
  | { type: "CANCEL"; reason: string };

export type ApprovalEmitted =
  /** An answer that did not match the pending action: the action changed, or the answer is for another. */
  { type: "approval.refused"; given: string; expected: string; reason: string };

interface ApprovalContext extends ApprovalInput {
  /** Set as a final state is entered: the machine's output reads it. */
  ended: "done" | "failed" | "denied" | "expired" | "cancelled" | null;
  by: "user" | "timeout" | "non-interactive" | "owner" | null;
  reason: string;
  result: unknown;
  error: string | null;
}

export const approvalRequestMachine = setup({
  types: {
    context: {} as ApprovalContext,
    events: {} as ApprovalEvent,
    input: {} as ApprovalInput,
    output: {} as ApprovalOutput,
    emitted: {} as ApprovalEmitted,
  },
  actors: {
    /** The approved action's effect, run once. */
    execute: fromPromise<unknown, { actionHash: string }>(notProvided("approval-request", "execute")),
  },
  guards: {
    interactive: ({ context }) => context.interactive,
    matchesAction: ({ context, event }) => event.type === "APPROVE" && event.actionHash === context.actionHash,
  },
  delays: {
    deadline: ({ context }) => context.deadlineMs,
  },
}).createMachine({
  id: "approval",
  context: ({ input }) => ({ ...input, ended: null, by: null, reason: "", result: undefined, error: null }),
  initial: "pending",
  states: {
    pending: {
      always: {
        guard: ({ context }) => !context.interactive,
        target: "denied",
        actions: assign({ by: "non-interactive" as const, reason: "nobody can approve in a non-interactive run: denied by policy" }),
      },
      after: {
        deadline: {
          target: "expired",
          actions: assign({ by: "timeout" as const, reason: ({ context }) => `no answer within ${Math.round(context.deadlineMs / 1000)} s: denied` }),
        },
      },
      on: {
        APPROVE: [
          { guard: "matchesAction", target: "approved", actions: assign({ by: "user" as const, reason: "approved" }) },
          {
            actions: emit(({ context, event }) => ({
              type: "approval.refused" as const,
              given: event.actionHash,
              expected: context.actionHash,
              reason: "this approval is for a different action (it changed since it was shown): review it again",
            })),
          },
        ],
        DENY: { target: "denied", actions: assign({ by: "user" as const, reason: ({ event }) => event.reason ?? "denied by the user" }) },
        CANCEL: { target: "cancelled", actions: assign({ by: "owner" as const, reason: ({ event }) => event.reason }) },
      },
    },
    approved: { always: "executing" },
    executing: {
      invoke: {
        id: "execute",
        src: "execute",
        input: ({ context }) => ({ actionHash: context.actionHash }),
        onDone: { target: "done", actions: assign({ result: ({ event }) => event.output }) },
        onError: { target: "failed", actions: assign({ error: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)) }) },
      },
      // Approved actions are not cancelled halfway: a half-applied change is worse than either.
    },
    done: { type: "final", entry: assign({ ended: "done" as const }) },
    failed: { type: "final", entry: assign({ ended: "failed" as const }) },
    denied: { type: "final", entry: assign({ ended: "denied" as const }) },
    expired: { type: "final", entry: assign({ ended: "expired" as const }) },
    cancelled: { type: "final", entry: assign({ ended: "cancelled" as const }) },
  },
  output: ({ context }) => {
    const state = context.ended;
    const base = { id: context.id, actionHash: context.actionHash };
    if (state === "done") return { ...base, outcome: "done", by: "user", result: context.result };
    if (state === "failed") return { ...base, outcome: "failed", by: "user", error: context.error ?? "the action failed" };
    return { ...base, outcome: state ?? "cancelled", by: context.by ?? "owner", reason: context.reason };
  },
});

export type ApprovalRequestMachine = typeof approvalRequestMachine;
