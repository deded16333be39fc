// OTP-style restart rules, as plain functions the orchestrator machine calls. XState v5 gives
// us the failure signal (xstate.error.actor.<id>) but no supervisor; this is that supervisor's
// policy, kept apart so it can be read and tested on its own.

/** permanent: always restarted; transient: restarted after an abnormal exit; temporary: never. */
export type RestartPolicy = "permanent" | "transient" | "temporary";

export interface SupervisionPolicy {
  /** More than this many restarts of one child within `withinMs` escalates instead. */
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export const DEFAULT_SUPERVISION: SupervisionPolicy = {
  maxRestarts: 3,
  withinMs: 5_000,
  backoffBaseMs: 100,
  backoffMaxMs: 5_000,
};

export function shouldRestart(restart: RestartPolicy, abnormal: boolean): boolean {
  return restart === "permanent" || (restart === "transient" && abnormal);
}

/** Intensity check: `recent` restarts already inside the window. */
export function exceedsIntensity(policy: SupervisionPolicy, recent: number): boolean {
  return recent >= policy.maxRestarts;
}

// The n-th restart of a child waits backoffDelay(policy, n, random) (a policy is its own BackoffLimits).
export { backoffDelay } from "../core/backoff.ts";
