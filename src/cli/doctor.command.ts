// `ironclaw doctor`: which sandbox backends work on this machine, found by booting a real
// sandbox with each, and for those that do not, why.
import { oneLine, safeJson } from "../../core/terminal-text.ts";
import { detectCgroups } from "../../actors/sandbox/cgroup.ts";
import { hasParentDeathSignal } from "../../actors/sandbox/host-process.ts";
import { measureHardening } from "../../actors/sandbox/hardening-probe.ts";
import { defaultCpus } from "../cpu-limit.ts";
import { loadSettings } from "../config/settings.ts";
import type { BackendName } from "../../core/backend.ts";
import type { Hardening, ProbeResult } from "../../actors/sandbox/sandbox-driver.ts";
import { PREFERENCE, rememberProbe } from "../backend-select.ts";
import { chooseBackend, noBackendMessage } from "../../core/backend-choice.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import type { Logger } from "../logger.ts";
import type { Runtime } from "../runtime.ts";
import type { SandboxRecord } from "../../actors/sandbox/sandbox-driver.ts";
import { withRuntime } from "../service/with-runtime.ts";

export async function runDoctor(opts: { json: boolean; verbose: boolean }): Promise<number> {
  const ended = await withRuntime(
    {
      verbose: opts.verbose,
      command: "doctor",
      reason: "doctor done",
      // Probes boot real sandboxes, not orchestrator children: Ctrl-C or a crash must not leave one behind.
      onSignal: "immediate",
      onCrash: (err) => process.stderr.write(`ironclaw: internal error: ${err.message}\n`),
    },
    ({ runtime, logger, reaped }) => diagnose(runtime, logger, reaped, opts),
  );
  return ended.value;
}

async function diagnose(runtime: Runtime, logger: Logger, reaped: readonly SandboxRecord[], opts: { json: boolean }): Promise<number> {
  const backends: ProbeResult[] = [];
  for (const name of PREFERENCE) {
    const driver = runtime.drivers[name];
    let result = await driver.probe();
    rememberProbe(result);
    if (result.usable) {
      // A second sandbox, probed as a command would probe it: what holds, not what should. Once
      // more if it fails (a loaded machine), then the reason goes into the report.
      // exec's default limits (512 MiB, 256 pids): under gVisor the Sentry's own threads count
      // against pids, and the probe's 64 could be spent by them on a loaded machine.
      const limits = { memoryMiB: 512, pidsMax: 256, cpus: sandboxCpus() };
      let failure = "";
      for (let attempt = 0; attempt < 2 && !result.hardening; attempt++) {
        try {
          result = { ...result, hardening: await measureHardening(driver, limits) };
        } catch (err) {
          failure = (err as Error).message.split("\n")[0]!;
          logger.warn({ backend: name, err }, "could not measure the sandbox's hardening");
        }
      }
      if (!result.hardening) result = { ...result, hardeningError: failure };
    }
    logger.info(result, "probe");
    backends.push(result);
  }
  const cgroups = await detectCgroups();
  const choice = await chooseBackend(async (name) => backends.find((b) => b.backend === name)!);
  const report = {
    default: choice.chosen,
    // The stronger backends the default passed over, and why (a VM that runs only emulated is one).
    passedOver: choice.passedOver,
    backends,
    limits: cgroups,
    parentDeathSignal: hasParentDeathSignal(),
    reapedLeftovers: reaped.map((r) => r.id),
  };
  if (opts.json) {
    process.stdout.write(`${safeJson(report, 2)}\n`);
  } else {
    for (const b of backends) {
      const mark = b.usable ? (b.emulated ? "slow " : "ok   ") : "no   ";
      const timing = b.probeMs !== undefined ? ` (${b.probeMs} ms)` : "";
      process.stdout.write(`${mark}${b.backend.padEnd(12)}${oneLine((b.usable ? b.isolation : b.reason) ?? "")}${timing}\n`);
      if (b.usable) process.stdout.write(`     ${"".padEnd(12)}${oneLine(b.reason)}\n`);
      if (b.hardeningError) process.stdout.write(`     ${"".padEnd(12)}hardening not measured: ${oneLine(b.hardeningError)}\n`);
      if (b.hardening) for (const line of hardeningLines(b.hardening, b.backend)) process.stdout.write(`     ${"".padEnd(12)}${line}\n`);
    }
    process.stdout.write(`\nlimits: ${cgroups.detail}\n`);
    process.stdout.write(`die with IronClaw: ${report.parentDeathSignal ? "yes (setpriv --pdeathsig)" : "no: install util-linux for setpriv"}\n`);
    if (choice.chosen) {
      process.stdout.write(`default backend: ${choice.chosen}\n`);
      for (const p of choice.passedOver) process.stdout.write(`    passed over ${p.backend}: ${oneLine(p.reason)}\n`);
    } else if (choice.emulatedOnly.length) process.stdout.write(`no default backend: ${noBackendMessage(choice)}\n`);
    else process.stdout.write("no backend works here: IronClaw will not run commands on this machine\n");
  }
  // A backend that works only emulated still runs commands, when asked for by name.
  return choice.chosen !== null || choice.emulatedOnly.length > 0 ? ExitCode.ok : ExitCode.sandboxFailure;
}

/** The CPU limit sandboxes get here; doctor still reports when the settings cannot be read. */
function sandboxCpus(): number {
  try {
    return loadSettings().sandbox.cpus;
  } catch {
    return defaultCpus();
  }
}

/** What a user reads of a backend's hardening: one fact a line, the bad news said as such. */
export function hardeningLines(h: Hardening, backend: BackendName): string[] {
  // In a VM, what a command reaches is the guest's own kernel: its /proc and capabilities are the guest's.
  const where = backend === "qemu" || backend === "firecracker" ? " (the guest's own kernel)" : backend === "gvisor" ? " (gVisor's kernel)" : "";
  const uids = h.hostUids.length ? h.hostUids.join(", ") : "unknown";
  const root = h.hostUids.includes(0) ? " (includes host root: a process of the sandbox runs as root on the host)" : "";
  const inside = h.insideRootIsHost !== undefined ? `; the command's uid 0 is host uid ${h.insideRootIsHost}${h.insideRootIsHost === 0 ? " — HOST ROOT" : ""}` : "";
  const limits = h.limits
    ? `memory ${h.limits.memoryMiB} MiB, pids ${h.limits.pidsMax}, cpu ${h.limits.cpus ?? "unlimited"}${h.cgroup ? ` (cgroup v${h.cgroup})` : " (NOT in force: no writable cgroup)"}`
    : "none";
  return [
    `host uids: ${uids}${root}${inside}`,
    `seccomp: ${h.seccomp === "filter" ? "filter in force (measured in a command; bubblewrap installs it before the agent starts)" : h.seccomp}; command capabilities${where}: ${/^0+$/.test(h.capabilities) ? "none" : h.capabilities}`,
    `/proc/sys${where}: ${h.procSysWritable ? (where ? "writable" : "WRITABLE") : "read-only"}; /proc/keys: ${h.procKeysReadable ? (where ? "readable" : "READABLE") : "masked"}; nested user namespaces: ${h.nestedUserNamespaces ? (where ? "allowed" : "ALLOWED") : "refused"}`,
    `guest agent: ${h.agentReachable ? "reachable by commands (same ids)" : "out of reach of commands (other ids)"}`,
    `limits: ${limits}`,
  ];
}
