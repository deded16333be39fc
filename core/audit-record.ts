// The audit log's vocabulary (actors/audit/audit-log.ts stores it): what was decided about an
// agent's action, and by whom. `by` says who answered: the policy (green, denied by a rule), the
// user (at the terminal or in the inspector), the deadline (timeout), the run itself when nobody
// can answer (non-interactive), or the session that asked, ending before anyone answered
// (Ctrl-C, a budget, the run ending, IronClaw shutting down). Records written before "session"
// existed said "user" for such a cancellation; they still verify.

export const AUDIT_DECISIONS = ["green", "approved", "denied", "denied-by-rule", "expired", "cancelled"] as const;
export type AuditDecision = (typeof AUDIT_DECISIONS)[number];

export const AUDIT_BY = ["policy", "user", "timeout", "non-interactive", "session"] as const;
export type AuditBy = (typeof AUDIT_BY)[number];

/** What a decision's record says, before the log numbers, dates and chains it. */
export interface AuditEntry {
  readonly session: string;
  readonly action: unknown;
  readonly actionHash: string;
  readonly decision: AuditDecision;
  readonly by: AuditBy;
  readonly reason: string;
}
