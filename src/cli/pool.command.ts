// `ironclaw pool warm | stats`: the daemon's pool of ready sandboxes.
import { oneLine, safeJson } from "../../core/terminal-text.ts";
import { DaemonClient } from "../daemon/daemon-client.ts";
import type { PoolStats } from "../service/ironclaw-service.ts";
import { ExitCode } from "../../core/exit-codes.ts";

const notRunning = (json: boolean) => {
  process.stdout.write(json ? `${JSON.stringify({ running: false })}\n` : "no daemon running (start one with `ironclaw up`)\n");
  return ExitCode.notRunning;
};

export async function runPoolWarm(opts: { backend?: string; size?: number; json: boolean; wait: boolean }): Promise<number> {
  const daemon = await DaemonClient.connect();
  if (!daemon) return notRunning(opts.json);
  try {
    await daemon.pool.warm({ ...(opts.backend && { backend: opts.backend }), ...(opts.size !== undefined && { size: opts.size }) });
  } catch (err) {
    process.stderr.write(`ironclaw: ${oneLine((err as Error).message)}\n`);
    return ExitCode.usage;
  }
  // Warming happens in the background; with --wait, return once every slot is ready (or failing).
  let stats = await daemon.pool.stats().catch(() => null);
  const deadline = Date.now() + 120_000;
  while (opts.wait && stats && stats.ready < stats.size && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    stats = await daemon.pool.stats().catch(() => null);
  }
  return printStats(stats, opts.json);
}

export async function runPoolStats(opts: { json: boolean }): Promise<number> {
  const stats = await (await DaemonClient.connect())?.pool.stats().catch(() => null);
  return printStats(stats ?? null, opts.json);
}

function printStats(stats: PoolStats | null, json: boolean): number {
  if (!stats) return notRunning(json);
  if (json) {
    // `type` as the daemon's reply has always carried it.
    process.stdout.write(`${safeJson({ type: "pool.stats", ...stats })}\n`);
    return ExitCode.ok;
  }
  const lines = [`${stats.ready}/${stats.size} slots ready`];
  for (const s of stats.slots) {
    lines.push(`  ${s.id.padEnd(24)} ${s.state.padEnd(10)} generation ${s.generation}${s.failures ? `, ${s.failures} failures: ${oneLine(s.lastError ?? "")}` : ""}`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return ExitCode.ok;
}
