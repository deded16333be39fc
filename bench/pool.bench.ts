// Pool figures, in process: how long a lease takes (a ready slot hands over its sandbox), and
// the round trip of `true` on a leased sandbox against one booted cold, per backend, in the
// same run. Prints JSON; asserts nothing.
import { pino } from "pino";
import { findBwrap } from "../actors/sandbox/bubblewrap.driver.ts";
import { findRunsc } from "../actors/sandbox/gvisor.driver.ts";
import { runJob } from "../src/exec-job.ts";
import { createRuntime } from "../src/runtime.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const limits = { memoryMiB: 512, pidsMax: 256 };
const job = { argv: ["true"], cwd: "/", timeoutMs: 10_000 };
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

const runtime = createRuntime({ logger: pino({ level: "silent" }) });
runtime.orchestrator.start();
const results = [];
for (const backend of [findBwrap() && "namespace", findRunsc() && "gvisor"].filter(Boolean) as string[]) {
  runtime.pool.warm({ backend, size: 4, limits, refreshMs: 3_600_000 });
  const readySlots = () => runtime.pool.stats().filter((s) => s.backend === backend && s.state === "ready").length;
  const waitReady = async () => {
    while (readySlots() < 4) await new Promise((r) => setTimeout(r, 5));
  };
  const acquire: number[] = [];
  const leased: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await waitReady();
    const t0 = performance.now();
    const sandbox = runtime.pool.lease(backend, limits) ?? undefined;
    const t1 = performance.now();
    await runJob(runtime, { backend, limits, job, sandbox });
    const t2 = performance.now();
    await runJob(runtime, { backend, limits, job });
    const t3 = performance.now();
    acquire.push(t1 - t0);
    leased.push(t2 - t1);
    cold.push(t3 - t2);
  }
  results.push({
    backend,
    acquireP50Ms: round(quantile(acquire, 0.5)),
    acquireP99Ms: round(quantile(acquire, 0.99)),
    leasedExecMedianMs: round(quantile(leased, 0.5), 1),
    coldExecMedianMs: round(quantile(cold, 0.5), 1),
    leasedOverCold: round(quantile(leased, 0.5) / quantile(cold, 0.5), 2),
  });
}
runtime.orchestrator.send({ type: "SHUTDOWN", reason: "bench done" });
await runtime.stopped;
console.log(JSON.stringify({ runs: RUNS, results, targets: { acquireP50Ms: 1, acquireP99Ms: 5 } }));
