import { describe, expect, it } from "vitest";
import { backoffDelay, DEFAULT_SUPERVISION, exceedsIntensity, shouldRestart } from "../../machines/supervision.ts";

describe("supervision policy", () => {
  it("restarts permanent always, transient only after abnormal exits, temporary never", () => {
    expect([true, false].map((abnormal) => shouldRestart("permanent", abnormal))).toEqual([true, true]);
    expect([true, false].map((abnormal) => shouldRestart("transient", abnormal))).toEqual([true, false]);
    expect([true, false].map((abnormal) => shouldRestart("temporary", abnormal))).toEqual([false, false]);
  });

  it("grows backoff exponentially, caps it, and jitters within [ceiling/2, ceiling]", () => {
    const policy = { ...DEFAULT_SUPERVISION, backoffBaseMs: 100, backoffMaxMs: 1000 };
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(policy, n, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(policy, n, () => 0))).toEqual([50, 100, 200, 400, 500]);
  });

  it("escalates once the restarts inside the window reach the maximum", () => {
    const policy = { ...DEFAULT_SUPERVISION, maxRestarts: 2 };
    expect([0, 1, 2, 3].map((n) => exceedsIntensity(policy, n))).toEqual([false, false, true, true]);
  });
});
