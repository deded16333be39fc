// `ironclaw doctor`: which sandbox backends work on this machine, found by booting a real
// sandbox with each, and for those that do not, why.
import { detectCgroups } from "../../actors/cgroup.ts";
import { hasParentDeathSignal } from "../../actors/host-process.ts";
import type { ProbeResult } from "../../actors/sandbox-driver.ts";
import { notAvailable, PREFERENCE, rememberProbe } from "../backend-select.ts";
import { ExitCode } from "../exit-codes.ts";
import { createLogger } from "../logger.ts";
import { guardProcess } from "../process-guard.ts";
import { createRuntime } from "../runtime.ts";

export async function runDoctor(opts: { json: boolean; verbose: boolean }): Promise<number> {
  const logger = await createLogger({ verbose: opts.verbose });
  const runtime = createRuntime({ logger });
  // Probes boot real sandboxes: Ctrl-C or a crash must not leave one behind.
  guardProcess(runtime, logger, {
    onSignal: "immediate",
    onCrash: (err) => process.stderr.write(`ironclaw: internal error: ${err.message}\n`),
  });
  runtime.orchestrator.start();
  const reaped = await runtime.reapLeftovers();
  const backends: ProbeResult[] = [];
  for (const name of PREFERENCE) {
    const driver = runtime.drivers[name];
    const result = driver ? await driver.probe() : notAvailable(name);
    if (driver) rememberProbe(result);
    logger.info(result, "probe");
    backends.push(result);
  }
  const cgroups = await detectCgroups();
  const chosen = backends.find((b) => b.usable)?.backend ?? null;
  const report = {
    default: chosen,
    backends,
    limits: cgroups,
    parentDeathSignal: hasParentDeathSignal(),
    reapedLeftovers: reaped.map((r) => r.id),
  };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    for (const b of backends) {
      const mark = b.usable ? "ok  " : "no  ";
      const timing = b.probeMs !== undefined ? ` (${b.probeMs} ms)` : "";
      process.stdout.write(`${mark}${b.backend.padEnd(12)}${b.usable ? b.isolation : b.reason}${timing}\n`);
      if (b.usable) process.stdout.write(`    ${"".padEnd(12)}${b.reason}\n`);
    }
    process.stdout.write(`\nlimits: ${cgroups.detail}\n`);
    process.stdout.write(`die with IronClaw: ${report.parentDeathSignal ? "yes (setpriv --pdeathsig)" : "no: install util-linux for setpriv"}\n`);
    process.stdout.write(chosen ? `default backend: ${chosen}\n` : "no backend works here: IronClaw will not run commands on this machine\n");
  }
  return chosen ? ExitCode.ok : ExitCode.sandboxFailure;
}
