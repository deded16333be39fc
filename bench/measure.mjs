// How every bench measures a command: wall time and peak RSS of one run, medians over many, and
// two commands interleaved so that drift on a busy machine hits both alike.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export const RUNS = Number(process.env.BENCH_RUNS ?? 20);
export const WARMUP = 3;

/** Runs a command once; returns wall time and the peak RSS seen in /proc while it ran. */
export function once(argv, exitCode = 0, options = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], ...options });
    let peakKiB = 0;
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
      } catch {
        // exited between polls
      }
    }, 2);
    child.on("close", (code) => {
      clearInterval(poll);
      const ms = performance.now() - started;
      if (code !== exitCode) reject(new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim()}`));
      else resolve({ ms, peakKiB });
    });
  });
}

export const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
export const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** `a` and `b` ({ argv, options }) run alternately, after a warm-up of each; medians and p90s of both. */
export async function interleave(a, b, runs = RUNS) {
  for (let i = 0; i < WARMUP; i++) {
    await once(a.argv, 0, a.options);
    await once(b.argv, 0, b.options);
  }
  const ta = [];
  const tb = [];
  let peakKiB = 0;
  for (let i = 0; i < runs; i++) {
    const r = await once(a.argv, 0, a.options);
    ta.push(r.ms);
    peakKiB = Math.max(peakKiB, r.peakKiB);
    tb.push((await once(b.argv, 0, b.options)).ms);
  }
  return {
    aMedianMs: round(quantile(ta, 0.5)),
    aP90Ms: round(quantile(ta, 0.9)),
    bMedianMs: round(quantile(tb, 0.5)),
    bP90Ms: round(quantile(tb, 0.9)),
    ratio: round(quantile(ta, 0.5) / quantile(tb, 0.5), 2),
    aPeakRssMiB: round(peakKiB / 1024),
  };
}
