// "Does this backend work here?" answered the only honest way: boot a real sandbox, run a
// real command through the guest agent, tear it all down, and report what happened.
import { nanoid } from "nanoid";
import { detectCgroups } from "./cgroup.ts";
import type { ProbeResult, SandboxDriver } from "./sandbox-driver.ts";
import { SandboxLease } from "./sandbox-lease.ts";

export const PROBE_LIMITS = { memoryMiB: 256, pidsMax: 64 } as const;

export async function probeDriver(driver: SandboxDriver, version: string, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  const lease = new SandboxLease(driver, `probe-${nanoid(8)}`);
  try {
    await lease.provision({ limits: PROBE_LIMITS }, signal);
    const sandbox = await lease.boot(signal);
    const exit = await sandbox.channel.exec({ argv: ["true"], timeoutMs: 10_000 });
    if (exit.code !== 0) throw new Error(`\`true\` exited ${exit.code ?? exit.signal} inside the sandbox`);
    const cgroups = await detectCgroups();
    return {
      backend: driver.backend,
      usable: true,
      reason: cgroups.usable
        ? `booted a sandbox and ran a command through the guest agent; limits by ${cgroups.detail}`
        : `booted a sandbox and ran a command, but memory/pids limits are unavailable: ${cgroups.detail}`,
      version,
      isolation: sandbox.isolation,
      probeMs: Math.round(performance.now() - started),
    };
  } catch (err) {
    return { backend: driver.backend, usable: false, reason: (err as Error).message.split("\n")[0]!, version };
  } finally {
    // The answer stands whatever teardown does: a sandbox it could not remove is the reaper's.
    await lease.release().catch(() => {});
  }
}
