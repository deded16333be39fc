// Exponential backoff with jitter, shared by everything that retries: the orchestrator's
// restarts (machines/supervision.ts), a pool slot's refills and the inspector page's reconnects.

/** The first delay and the most any delay may be, in milliseconds. */
export interface BackoffLimits {
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/**
 * The n-th retry (from 0) waits a random time between half and all of min(max, base·2ⁿ), so
 * things that failed together do not come back together.
 */
export function backoffDelay(limits: BackoffLimits, attempt: number, random: () => number): number {
  const ceiling = Math.min(limits.backoffMaxMs, limits.backoffBaseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
