// The `namespace` backend: bubblewrap. Every namespace unshared (user, pid, net, ipc, uts,
// cgroup, mount), a writable tmpfs root that holds nothing of the host but a read-only runtime
// (/usr and its merged-usr links) and the guest agent, /proc's dangerous parts read-only or
// masked. As root, IronClaw never lends bubblewrap its own ids: bubblewrap runs as an
// unprivileged host uid and the sandbox's ids 0…65535 map to a block of host ids of its own
// (sandbox-ids.ts). The guest agent runs as uid 999 inside with the few capabilities it needs
// to start commands as uid 0 with none, so a command cannot signal, trace or read it.
import { type ChildProcess, execFile } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { promisify } from "node:util";
import { GUEST_ENV } from "../../guest-agent/guest-protocol.ts";
import { bootProcessSandbox, destroyProcessSandbox, type DriverEnv, provisionProcessSandbox } from "./process-sandbox.ts";
import { PROC_MASKED, PROC_READ_ONLY } from "./proc-hardening.ts";
import { seccompProgram } from "./seccomp-bpf.ts";
import { AGENT_CAPS, AGENT_ID, BLOCK_SIZE, type IdBlock, idRangeForRoot, runsAsRoot } from "./sandbox-ids.ts";
import { GENERATED_ETC, GUEST_AGENT, GUEST_NODE, limitsInForce, sandboxView, type ViewEntry } from "./sandbox-view.ts";
import { sharedRuntime } from "./shared-runtime.ts";
import { probeDriver } from "./sandbox-probe.ts";
import type { ProbeResult, Sandbox, SandboxDriver, SandboxRecord, SandboxSpec } from "./sandbox-driver.ts";
import { SandboxError } from "../../core/errors.ts";

const run = promisify(execFile);

export function findBwrap(): string | null {
  for (const p of ["/usr/bin/bwrap", "/usr/local/bin/bwrap"]) if (existsSync(p)) return p;
  return null;
}

/** open(2)'s O_PATH on Linux (same value on x86_64 and arm64); Node has no constant for it. */
const O_PATH = 0o10000000;

/**
 * fds from 3 on, in this order: with ids of its own, bubblewrap's info pipe and its
 * user-namespace gate; then the seccomp program; then one per bind.
 */
const INFO_FD = 3;
const USERNS_FD = 4;

export interface BubblewrapLaunch {
  readonly argv: string[];
  readonly extraStdio: (number | "pipe")[];
  /** Host descriptors to close once the child has its copies. */
  readonly fds: number[];
}

/**
 * The bubblewrap command line for `record`. With ids of its own, bubblewrap runs under the
 * sandbox's unprivileged host ids: binds go by descriptor (--ro-bind-fd, opened here by
 * IronClaw, so the path cannot be swapped between check and mount), the generated /etc by
 * content (--ro-bind-data: the work dir is owner-only), and the runtime from where anyone can
 * read it (shared-runtime.ts).
 */
export function bubblewrapLaunch(bwrap: string, env: DriverEnv, record: SandboxRecord): BubblewrapLaunch {
  const ids = record.ids;
  // The seccomp program goes through a pipe too: written once bubblewrap runs (seccompAndIds).
  const extraStdio: (number | "pipe")[] = ids ? ["pipe", "pipe", "pipe"] : ["pipe"];
  const seccompFd = String(2 + extraStdio.length);
  const fds: number[] = [];
  const firstBindFd = 3 + extraStdio.length;
  const bindFd = (source: string): string => {
    const fd = openSync(source, O_PATH);
    fds.push(fd);
    extraStdio.push(fd);
    return String(firstBindFd + fds.length - 1);
  };
  // The generated /etc lives in the owner-only work dir: its content goes in by descriptor.
  const generated = new Set(Object.keys(GENERATED_ETC).map((f) => join(record.workDir, "etc", f)));
  const dataFd = (source: string): string => {
    const fd = openSync(source, "r");
    fds.push(fd);
    extraStdio.push(fd);
    return String(firstBindFd + fds.length - 1);
  };
  const made = new Set<string>(["/"]);
  const viewArgs = (entry: ViewEntry): string[] => {
    switch (entry.kind) {
      case "bind":
        if (generated.has(entry.source)) return ["--perms", "0644", "--ro-bind-data", dataFd(entry.source), entry.target];
        // bubblewrap makes a mount point's missing parents 0700, as the agent's uid: open them to commands.
        return ids ? [...openParents(entry.target, made), "--ro-bind-fd", bindFd(entry.source), entry.target] : ["--ro-bind", entry.source, entry.target];
      case "symlink":
        return ["--symlink", entry.linkTo, entry.target];
      case "proc":
        return [
          "--proc",
          entry.target,
          ...PROC_READ_ONLY.filter((c) => existsSync(c.path)).flatMap((c) => ["--ro-bind", c.path, c.path]),
          ...PROC_MASKED.filter((c) => existsSync(c.path)).flatMap((c) => ["--ro-bind", "/dev/null", c.path]),
        ];
      case "dev":
        return ["--dev", entry.target];
      case "tmpfs":
        return ["--perms", "1777", "--tmpfs", entry.target];
      case "dir":
        made.add(entry.target);
        return ["--dir", entry.target];
    }
  };
  try {
    const identity = ids
      ? [
          "--userns-block-fd",
          String(USERNS_FD),
          "--info-fd",
          String(INFO_FD),
          "--uid",
          String(AGENT_ID),
          "--gid",
          String(AGENT_ID),
          ...AGENT_CAPS.flatMap((c) => ["--cap-add", c]),
          "--setenv",
          "IRONCLAW_EXEC_AS",
          "0:0",
        ]
      : ["--uid", "0", "--gid", "0", "--cap-drop", "ALL"];
    const argv = [
      bwrap,
      "--unshare-all",
      "--unshare-user",
      "--die-with-parent",
      "--new-session",
      "--clearenv",
      ...Object.entries(GUEST_ENV).flatMap(([k, v]) => ["--setenv", k, v]),
      "--hostname",
      "ironclaw",
      "--seccomp",
      seccompFd,
      ...identity,
      ...sandboxView(ids ? sharedRuntime(env) : env, record).flatMap(viewArgs),
      "--chdir",
      "/",
      "--",
      GUEST_NODE,
      GUEST_AGENT,
    ];
    return { argv, extraStdio, fds };
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    throw err;
  }
}

/** `--perms 0755 --dir` for each parent of `target` not made yet (and so not made again). */
function openParents(target: string, made: Set<string>): string[] {
  const parents: string[] = [];
  for (let dir = dirname(target); !made.has(dir); dir = dirname(dir)) parents.unshift(dir);
  for (const dir of parents) made.add(dir);
  return parents.flatMap((dir) => ["--perms", "0755", "--dir", dir]);
}

/** Compiled once per process: the policy does not change while IronClaw runs, and every boot needs it. */
let compiled: Buffer | undefined;
const filterProgram = (): Buffer => (compiled ??= seccompProgram());

/**
 * Hands bubblewrap the seccomp program (every process in the sandbox runs under it, the agent
 * included) and, with ids of its own, maps them.
 */
export async function seccompAndIds(child: ChildProcess, ids: IdBlock | undefined): Promise<void> {
  const pipes = child.stdio.slice(INFO_FD).filter((p) => p !== null && p !== undefined);
  // bubblewrap gone (killed, or its sandbox torn down): its exit says why, not a socket error.
  for (const pipe of pipes) pipe.on("error", () => {});
  try {
    const filter = child.stdio[ids ? USERNS_FD + 1 : INFO_FD] as Writable | null | undefined;
    if (!filter) throw new SandboxError("EBOOT", "bubblewrap was started without its seccomp pipe");
    const written = new Promise<void>((resolve) => filter.end(filterProgram(), resolve));
    if (ids) await mapSandboxIds(child, ids);
    await written;
  } finally {
    // Nothing more is said on them: close our ends.
    for (const pipe of pipes) pipe.destroy();
  }
}

/** Reads bubblewrap's info document (it names the process in the new user namespace). */
function childPid(info: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8");
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        if (text.length > 64 * 1024) done(new SandboxError("EBOOT", "bubblewrap's info document is not JSON"));
        return;
      }
      const pid = typeof doc === "object" && doc !== null && "child-pid" in doc ? doc["child-pid"] : undefined;
      if (typeof pid === "number" && Number.isSafeInteger(pid) && pid > 1) done(null, pid);
      else done(new SandboxError("EBOOT", "bubblewrap's info document names no child pid"));
    };
    const onEnd = () => done(new SandboxError("EBOOT", "bubblewrap closed its info pipe before naming its child"));
    const done = (err: Error | null, pid?: number) => {
      info.off("data", onData);
      info.off("end", onEnd);
      info.off("error", onEnd);
      if (err) reject(err);
      else resolve(pid!);
    };
    info.on("data", onData);
    info.on("end", onEnd);
    info.on("error", onEnd);
  });
}

/**
 * Writes the sandbox's id maps (ids 0…65535 onto its block) while bubblewrap waits on its gate,
 * then opens the gate. Only a process privileged on the host (IronClaw as root) may write a map
 * that names ids other than its own.
 */
async function mapSandboxIds(child: ChildProcess, ids: IdBlock): Promise<void> {
  const info = child.stdio[INFO_FD] as Readable | null | undefined;
  const gate = child.stdio[USERNS_FD] as Writable | null | undefined;
  if (!info || !gate) throw new SandboxError("EBOOT", "bubblewrap was started without its id handshake pipes");
  const pid = await childPid(info);
  await writeFile(`/proc/${pid}/uid_map`, `0 ${ids.uidBase} ${BLOCK_SIZE}\n`);
  await writeFile(`/proc/${pid}/gid_map`, `0 ${ids.gidBase} ${BLOCK_SIZE}\n`);
  await new Promise<void>((resolve) => gate.end("1", resolve));
}

/** A runtime file or bind source that cannot be opened fails the boot like an agent that cannot start. */
function launchOrExplain(make: () => BubblewrapLaunch): BubblewrapLaunch {
  try {
    return make();
  } catch (err) {
    if (err instanceof SandboxError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new SandboxError("EBOOT", `sandbox failed to start its guest agent: ${e.path ?? "a file it needs"} cannot be opened (${e.code ?? e.message})`);
  }
}

function isolationLine(record: SandboxRecord): string {
  const who = record.ids ? `host uids ${record.ids.uidBase}–${record.ids.uidBase + BLOCK_SIZE - 1}, agent apart from commands` : `host uid ${process.getuid?.() ?? "?"} (yours)`;
  return `namespace (bubblewrap): user, pid, net, ipc, uts, cgroup and mount namespaces; ${who}; commands without capabilities; /proc hardened; no network; ${limitsInForce(record)}`;
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
    return provisionProcessSandbox(this.env, spec, signal, idRangeForRoot(this.backend));
  }

  async boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox> {
    if (runsAsRoot() && !record.ids) throw new SandboxError("EBACKEND", "refusing to start a namespace sandbox as host root without ids of its own");
    const launch = launchOrExplain(() => bubblewrapLaunch(this.bwrap(), this.env, record));
    const ids = record.ids;
    try {
      return await bootProcessSandbox(
        this.env,
        record,
        {
          argv: launch.argv,
          isolation: isolationLine(record),
          spawn: {
            extraStdio: launch.extraStdio,
            // What a fresh Linux system has: directories bubblewrap makes, and the command's files, readable.
            umask: 0o022,
            ...(ids && { runAs: { uid: ids.uidBase + AGENT_ID, gid: ids.gidBase + AGENT_ID } }),
          },
          started: (child: ChildProcess) => seccompAndIds(child, ids),
        },
        signal,
      );
    } finally {
      for (const fd of launch.fds) closeSync(fd);
    }
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
