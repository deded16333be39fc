// One request at the approval cliff: an action that reaches outside the sandbox (writing the
// user's files, an MCP tool that changes the world, network egress) waits here for a human.
// The approval binds to the SHA-256 of the exact action — tool, arguments, the diff and the
// base it applies to — so an answer given for anything else is refused, and a changed action
// needs a new request. No answer before the deadline means denied; a run with nobody to ask is
// denied at once, by policy, and says so. The request only decides: the session that asked runs
// the action it holds, and only when this ends approved (machines/agent-session.machine.ts).
//
// Whoever shows the request (the terminal, the inspector) and the audit log learn of it from two
// events: `approval.pending` when it is made, `approval.settled` when it is answered.
import { assign, emit, setup } from "xstate";
import type { AuditBy } from "../core/audit-record.ts";

export interface ApprovalInput {
  readonly id: string;
  /** The session that asked, and holds the action. */
  readonly sessionId: string;
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

export type ApprovalOutcome = "approved" | "denied" | "expired" | "cancelled";
/** Who settled it: the user (terminal or inspector), the deadline, a run nobody can answer, or the session ending first. */
export type ApprovalBy = Exclude<AuditBy, "policy">;

export type ApprovalEvent =
  /** The human approves the action whose hash they were shown. */
  | { type: "APPROVE"; actionHash: string }
  | { type: "DENY"; reason?: string }
  /** The session that asked is ending (Ctrl-C, budget, its own end). */
  | { type: "CANCEL"; reason: string };

/** A request made: what to show, until when (the wall clock's milliseconds when the deadline passes). */
export interface ApprovalPending {
  readonly type: "approval.pending";
  readonly id: string;
  readonly sessionId: string;
  readonly actionHash: string;
  readonly card: unknown;
  readonly summary: string;
  readonly deadlineAt: number;
}

/** A request answered; the same is its output. */
export interface ApprovalSettled {
  readonly type: "approval.settled";
  readonly id: string;
  readonly sessionId: string;
  readonly actionHash: string;
  readonly summary: string;
  readonly outcome: ApprovalOutcome;
  readonly by: ApprovalBy;
  readonly reason: string;
}

export type ApprovalOutput = Omit<ApprovalSettled, "type">;

export type ApprovalEmitted =
  | ApprovalPending
  | ApprovalSettled
  /** An answer that did not match the pending action: the action changed, or the answer is for another. */
  | { type: "approval.refused"; given: string; expected: string; reason: string };

interface ApprovalContext extends ApprovalInput {
  /** Set by the answer, as the final state is entered. */
  outcome: ApprovalOutcome | null;
  by: ApprovalBy | null;
  reason: string;
}

const output = (context: ApprovalContext): ApprovalOutput => ({
  id: context.id,
  sessionId: context.sessionId,
  actionHash: context.actionHash,
  summary: context.summary,
  outcome: context.outcome ?? "cancelled",
  by: context.by ?? "session",
  reason: context.reason,
});

export const approvalRequestMachine = setup({
  types: {
    context: {} as ApprovalContext,
    events: {} as ApprovalEvent,
    input: {} as ApprovalInput,
    output: {} as ApprovalOutput,
    emitted: {} as ApprovalEmitted,
  },
  guards: {
    matchesAction: ({ context, event }) => event.type === "APPROVE" && event.actionHash === context.actionHash,
  },
  actions: {
    settled: emit(({ context }) => ({ type: "approval.settled" as const, ...output(context) })),
  },
  delays: {
    deadline: ({ context }) => context.deadlineMs,
  },
}).createMachine({
  id: "approval",
  context: ({ input }) => ({ ...input, outcome: null, by: null, reason: "" }),
  // The deadline is for people to read: the timer itself runs on the actor system's clock.
  entry: emit(({ context }) => ({
    type: "approval.pending" as const,
    id: context.id,
    sessionId: context.sessionId,
    actionHash: context.actionHash,
    card: context.card,
    summary: context.summary,
    deadlineAt: Date.now() + context.deadlineMs,
  })),
  initial: "pending",
  states: {
    pending: {
      always: {
        guard: ({ context }) => !context.interactive,
        target: "denied",
        actions: assign({ outcome: "denied", by: "non-interactive", reason: "nobody can approve in a non-interactive run: denied by policy" }),
      },
      after: {
        deadline: {
          target: "expired",
          actions: assign({ outcome: "expired", by: "timeout", reason: ({ context }) => `no answer within ${Math.round(context.deadlineMs / 1000)} s: denied` }),
        },
      },
      on: {
        APPROVE: [
          { guard: "matchesAction", target: "approved", actions: assign({ outcome: "approved", by: "user", reason: "approved" }) },
          {
            actions: emit(({ context, event }) => ({
              type: "approval.refused" as const,
              given: event.actionHash,
              expected: context.actionHash,
              reason: "this approval is for a different action (it changed since it was shown): review it again",
            })),
          },
        ],
        DENY: { target: "denied", actions: assign({ outcome: "denied", by: "user", reason: ({ event }) => event.reason ?? "denied by the user" }) },
        CANCEL: { target: "cancelled", actions: assign({ outcome: "cancelled", by: "session", reason: ({ event }) => event.reason }) },
      },
    },
    approved: { type: "final", entry: "settled" },
    denied: { type: "final", entry: "settled" },
    expired: { type: "final", entry: "settled" },
    cancelled: { type: "final", entry: "settled" },
  },
  output: ({ context }) => output(context),
});

export type ApprovalRequestMachine = typeof approvalRequestMachine;
