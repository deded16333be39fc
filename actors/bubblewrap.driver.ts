// The `namespace` backend: bubblewrap. Every namespace unshared (user, pid, net, ipc, uts,
// cgroup, mount), all capabilities dropped, a writable tmpfs root that holds nothing of the
// host but a read-only runtime (/usr and its merged-usr links) and the guest agent.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { GUEST_ENV } from "../guest-agent/guest-protocol.ts";
import { bootProcessSandbox, destroyProcessSandbox, type DriverEnv, provisionProcessSandbox } from "./process-sandbox.ts";
import { GUEST_AGENT, GUEST_NODE, limitsInForce, sandboxView, type ViewEntry } from "./sandbox-view.ts";
import { probeDriver } from "./sandbox-probe.ts";
import type { ProbeResult, Sandbox, SandboxDriver, SandboxRecord, SandboxSpec } from "./sandbox-driver.ts";
import { SandboxError } from "./sandbox-driver.ts";

const run = promisify(execFile);

export function findBwrap(): string | null {
  for (const p of ["/usr/bin/bwrap", "/usr/local/bin/bwrap"]) if (existsSync(p)) return p;
  return null;
}

function viewArgs(entry: ViewEntry): string[] {
  switch (entry.kind) {
    case "bind":
      return ["--ro-bind", entry.source, entry.target];
    case "symlink":
      return ["--symlink", entry.linkTo, entry.target];
    case "proc":
      return ["--proc", entry.target];
    case "dev":
      return ["--dev", entry.target];
    case "tmpfs":
      return ["--tmpfs", entry.target];
    case "dir":
      return ["--dir", entry.target];
  }
}

export function bubblewrapArgv(bwrap: string, env: DriverEnv, record: SandboxRecord): string[] {
  return [
    bwrap,
    "--unshare-all",
    "--unshare-user",
    "--die-with-parent",
    "--new-session",
    "--cap-drop", "ALL",
    "--clearenv",
    ...Object.entries(GUEST_ENV).flatMap(([k, v]) => ["--setenv", k, v]),
    "--hostname", "ironclaw",
    "--uid", "0",
    "--gid", "0",
    ...sandboxView(env, record).flatMap(viewArgs),
    "--chdir", "/",
    "--",
    GUEST_NODE,
    GUEST_AGENT,
  ];
}

export class BubblewrapDriver implements SandboxDriver {
  readonly backend = "namespace" as const;
  readonly hostMounts = true;

  private readonly env: DriverEnv;

  constructor(env: DriverEnv) {
    this.env = env;
  }

  private bwrap(): string {
    const bwrap = findBwrap();
    if (!bwrap) throw new SandboxError("EBACKEND", "the namespace backend needs bubblewrap: install it with `apt-get install bubblewrap`");
    return bwrap;
  }

  async version(): Promise<string> {
    const { stdout } = await run(this.bwrap(), ["--version"]);
    return stdout.trim();
  }

  provision(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxRecord> {
    this.bwrap();
    return provisionProcessSandbox(this.env, spec, signal);
  }

  async boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox> {
    return bootProcessSandbox(
      this.env,
      record,
      {
        argv: bubblewrapArgv(this.bwrap(), this.env, record),
        isolation: `namespace (bubblewrap): user, pid, net, ipc, uts, cgroup and mount namespaces; no capabilities; no network; ${limitsInForce(record)}`,
      },
      signal,
    );
  }

  destroy(record: SandboxRecord): Promise<void> {
    return destroyProcessSandbox(this.env, record);
  }

  async probe(signal?: AbortSignal): Promise<ProbeResult> {
    if (!findBwrap()) {
      return { backend: this.backend, usable: false, reason: "bubblewrap is not installed (apt-get install bubblewrap)" };
    }
    return probeDriver(this, await this.version().catch(() => "unknown"), signal);
  }
}
