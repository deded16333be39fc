// The `namespace` backend: bubblewrap. Every namespace unshared (user, pid, net, ipc, uts,
// cgroup, mount), all capabilities dropped, a writable tmpfs root that holds nothing of the
// host but a read-only runtime (/usr and its merged-usr links) and the guest agent.
import { execFile } from "node:child_process";
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  bootProcessSandbox,
  destroyProcessSandbox,
  type DriverEnv,
  GUEST_AGENT,
  GUEST_NODE,
  provisionProcessSandbox,
} from "./process-sandbox.ts";
import { probeDriver } from "./sandbox-probe.ts";
import type { ProbeResult, Sandbox, SandboxDriver, SandboxRecord, SandboxSpec } from "./sandbox-driver.ts";
import { SandboxError } from "./sandbox-driver.ts";

const run = promisify(execFile);
const RUNTIME_DIRS = ["/usr"];
const MERGED_USR_LINKS = ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"];
const HOST_ETC_RUNTIME = ["/etc/ld.so.cache", "/etc/alternatives"];
export const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function findBwrap(): string | null {
  for (const p of ["/usr/bin/bwrap", "/usr/local/bin/bwrap"]) if (existsSync(p)) return p;
  return null;
}

/** The runtime the sandbox may read: /usr, plus /bin → usr/bin style links where the host has merged-usr. */
function runtimeArgs(): string[] {
  const args: string[] = [];
  for (const dir of RUNTIME_DIRS) args.push("--ro-bind", dir, dir);
  for (const link of MERGED_USR_LINKS) {
    if (!existsSync(link)) continue;
    if (lstatSync(link).isSymbolicLink()) args.push("--symlink", readlinkSync(link), link);
    else args.push("--ro-bind", link, link);
  }
  for (const path of HOST_ETC_RUNTIME) if (existsSync(path)) args.push("--ro-bind", path, path);
  return args;
}

export function bubblewrapArgv(bwrap: string, env: DriverEnv, record: SandboxRecord): string[] {
  const etc = join(record.workDir, "etc");
  return [
    bwrap,
    "--unshare-all",
    "--unshare-user",
    "--die-with-parent",
    "--new-session",
    "--cap-drop", "ALL",
    "--clearenv",
    "--setenv", "PATH", GUEST_PATH,
    "--setenv", "HOME", "/root",
    "--hostname", "ironclaw",
    "--uid", "0",
    "--gid", "0",
    ...runtimeArgs(),
    "--proc", "/proc",
    "--dev", "/dev",
    "--tmpfs", "/tmp",
    "--dir", "/root",
    ...["passwd", "group", "hosts", "hostname", "nsswitch.conf"].flatMap((f) => ["--ro-bind", join(etc, f), `/etc/${f}`]),
    "--ro-bind", env.nodePath, GUEST_NODE,
    "--ro-bind", env.agentPath, GUEST_AGENT,
    "--chdir", "/",
    "--",
    GUEST_NODE,
    GUEST_AGENT,
  ];
}

export class BubblewrapDriver implements SandboxDriver {
  readonly backend = "namespace" as const;

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

  provision(spec: SandboxSpec): Promise<SandboxRecord> {
    this.bwrap();
    return provisionProcessSandbox(this.env, spec);
  }

  async boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox> {
    const limits = record.cgroup ? `cgroup v${record.cgroup.version} memory+pids limits` : "no cgroup limits";
    return bootProcessSandbox(
      this.env,
      record,
      {
        argv: bubblewrapArgv(this.bwrap(), this.env, record),
        isolation: `namespace (bubblewrap): user, pid, net, ipc, uts, cgroup and mount namespaces; no capabilities; no network; ${limits}`,
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
