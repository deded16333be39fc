// Real drivers for tests, on the suite's private state and run directories (vitest.config.ts).
import { findBwrap } from "../../actors/sandbox/bubblewrap.driver.ts";
import { findRunsc } from "../../actors/sandbox/gvisor.driver.ts";
import type { BackendName } from "../../core/backend.ts";
import type { SandboxDriver, SandboxLimits } from "../../actors/sandbox/sandbox-driver.ts";
import { SandboxLease } from "../../actors/sandbox/sandbox-lease.ts";
import { createDriverEnv, createDrivers } from "../../src/runtime.ts";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { nanoid } from "nanoid";

export const env = createDriverEnv();
export const drivers = createDrivers(env);

const present: Record<string, boolean> = { namespace: findBwrap() !== null, gvisor: findRunsc() !== null };

/**
 * The backends this run exercises. Both are installed by the README's set-up, so in CI a
 * missing one is a failure, not a skip; on a developer's machine it is skipped with the reason.
 */
export function backendsUnderTest(): BackendName[] {
  const names: BackendName[] = ["namespace", "gvisor"];
  for (const name of names) {
    if (!present[name] && process.env.CI) throw new Error(`backend ${name} is not installed; run the README's set-up`);
    if (!present[name]) console.warn(`skipping ${name} tests: its binary is not installed`);
  }
  return names.filter((n) => present[n]);
}

export function driver(name: BackendName): SandboxDriver {
  return drivers[name]!;
}

export const limits = { memoryMiB: 256, pidsMax: 128 };

export function sandboxId(prefix = "t"): string {
  return `${prefix}${nanoid(10).replace(/[^A-Za-z0-9]/g, "0")}`;
}

/** Boots a sandbox for one test and guarantees its destruction. */
export async function withSandbox<T>(
  name: BackendName,
  body: (sandbox: Awaited<ReturnType<SandboxDriver["boot"]>>) => Promise<T>,
  sandboxLimits: SandboxLimits = limits,
): Promise<T> {
  await using lease = new SandboxLease(driver(name), sandboxId(), env.store);
  await lease.provision({ limits: sandboxLimits });
  return await body(await lease.boot());
}

/**
 * Signals every process of a sandbox, found through its cgroup (the agent runs in a session of
 * its own, out of reach of a process-group signal). A sandbox already gone is left be.
 */
export function signalSandbox(id: string, signal: NodeJS.Signals): void {
  const dir = env.store.read(id)?.cgroup?.dirs.at(-1);
  if (!dir || !existsSync(dir)) return;
  for (const pid of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
    try {
      process.kill(Number(pid), signal);
    } catch {
      // Killing bwrap already took the rest of the sandbox with it.
    }
  }
}
