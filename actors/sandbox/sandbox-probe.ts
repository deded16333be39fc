// "Does this backend work here?" answered the only honest way: boot a real sandbox, run a
// real command through the guest agent, tear it all down, and report what happened.
import { nanoid } from "nanoid";
import { detectCgroups } from "./cgroup.ts";
import type { ProbeResult, SandboxDriver, SandboxRecord } from "./sandbox-driver.ts";

export const PROBE_LIMITS = { memoryMiB: 256, pidsMax: 64 } as const;

export async function probeDriver(driver: SandboxDriver, version: string, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  let record: SandboxRecord | undefined;
  try {
    record = await driver.provision({ id: `probe-${nanoid(8)}`, backend: driver.backend, limits: PROBE_LIMITS }, signal);
    const sandbox = await driver.boot(record, signal);
    record = sandbox.record;
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
    if (record) await driver.destroy(record).catch(() => {});
  }
}
