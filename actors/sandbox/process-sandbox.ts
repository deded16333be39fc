// What the namespace and gVisor backends share: a sandbox that is one host process (plus its
// descendants, all inside one cgroup) with the guest agent on its stdio. Backends differ only
// in the command line that builds the sandbox and in extra teardown steps.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Duplex } from "node:stream";
import { cgroupDirs, createCgroup, destroyCgroup, detectCgroups, killCgroupSync, type CgroupSet } from "./cgroup.ts";
import { GuestChannel } from "../guest/guest-channel.ts";
import { KEYRING_NOTICE, killProcessGroup, killProcessGroupSync, processStartTime, type SandboxSpawnOptions, spawnSandboxProcess, waitForExit } from "./host-process.ts";
import type { ChildProcess } from "node:child_process";
import { acquireIdBlock, ensureIdLockDir, ID_LOCK_DIR, type IdRange, releaseIdBlock } from "./sandbox-ids.ts";
import { readableByAnyone } from "./shared-runtime.ts";
import { type Sandbox, type SandboxExit, type SandboxRecord, type SandboxSpec } from "./sandbox-driver.ts";
import type { SandboxStore } from "./sandbox-store.ts";
import { GENERATED_ETC } from "./sandbox-view.ts";
import { ensurePrivateDir } from "./private-dir.ts";
import { GuestError, SandboxError } from "../../core/errors.ts";

/** What every process-based driver needs from the host: where state lives and what to run inside. */
export interface DriverEnv {
  readonly store: SandboxStore;
  /** Parent of per-sandbox work directories. */
  readonly runDir: string;
  /** The Node binary the guest agent runs on, mounted read-only into the sandbox. */
  readonly nodePath: string;
  /** The bundled guest agent (dist/guest-agent.mjs). */
  readonly agentPath: string;
}

const STDERR_KEEP_BYTES = 8 * 1024;

/**
 * Makes the work dir and cgroup, recorded first. A provision that is aborted (its actor's
 * timeout fired and teardown is already running) stops creating at the next step and removes
 * what it made itself, since the teardown that raced it may have seen less.
 */
export async function provisionProcessSandbox(
  env: DriverEnv,
  spec: SandboxSpec,
  signal?: AbortSignal,
  /** Give the sandbox its own block of host ids from this range (IronClaw as root). */
  idRange?: IdRange,
  /** The sandbox binary opens its work dir by path under those ids (rootless runsc), not by descriptor. */
  reachableWorkDir = false,
): Promise<SandboxRecord> {
  signal?.throwIfAborted();
  ensurePrivateDir(env.runDir, "set IRONCLAW_RUN_DIR to a directory of your own");
  // Named and recorded before it is made, so a crash right after mkdir still gets reaped.
  const parent = idRange && reachableWorkDir ? reachableParent(env.runDir) : env.runDir;
  const workDir = join(parent, `${spec.id}-${randomBytes(4).toString("hex")}`);
  const owner = { pid: process.pid, start: processStartTime(process.pid) ?? "" };
  // Under ids of its own the sandbox reads host paths as a stranger would: say so now, not as a crash inside.
  for (const m of idRange ? (spec.mounts ?? []) : []) {
    if (!readableByAnyone(m.source)) {
      throw new SandboxError(
        "EBACKEND",
        `${m.source} is closed to other users, and a sandbox reads host files under ids of its own: open it (chmod o+rX, and o+x on its parents) or move it`,
      );
    }
  }
  // Taken before the record is written: a crash in between leaves a lock that names a sandbox
  // with no record and a dead owner, which the next acquire frees.
  const ids = idRange && acquireIdBlock(ensureIdLockDir(), idRange, spec.id, owner, env.store.dir);
  const base: SandboxRecord = {
    id: spec.id,
    backend: spec.backend,
    owner,
    createdAt: new Date().toISOString(),
    workDir,
    cgroup: null,
    process: null,
    limits: spec.limits,
    ...(spec.mounts?.length && { mounts: spec.mounts }),
    ...(ids && { ids }),
  };
  env.store.write(base);
  try {
    await mkdir(workDir, { mode: 0o700 }); // not recursive: a path someone made first is refused
  } catch (err) {
    env.store.remove(spec.id); // nothing of ours to tear down
    if (ids) releaseIdBlock(ID_LOCK_DIR, ids, spec.id);
    throw err;
  }
  let made: SandboxRecord = base;
  try {
    signal?.throwIfAborted();
    const support = await detectCgroups();
    signal?.throwIfAborted();
    let cgroup: CgroupSet | null = null;
    if (support.usable) {
      // Recorded before creation: a crash between mkdir and the next write still gets reaped.
      made = { ...base, cgroup: { version: support.version, dirs: [] as string[] } };
      env.store.write(made);
      cgroup = await createCgroup(support.version, spec.id, {
        memoryBytes: spec.limits.memoryMiB * 1024 * 1024,
        pidsMax: spec.limits.pidsMax,
        ...(spec.limits.cpus !== undefined && { cpus: spec.limits.cpus }),
      });
      made = { ...base, cgroup };
      signal?.throwIfAborted();
    }
    await writeEtc(join(workDir, "etc"));
    signal?.throwIfAborted();
    env.store.write(made);
    return made;
  } catch (err) {
    await destroyProcessSandbox(env, made);
    throw err;
  }
}

/**
 * Where a work dir goes that a sandbox's own unprivileged ids must reach by path: the run dir
 * when others may traverse every directory above it, else a root-owned, search-only system
 * directory (the run dir is owner-only, and so is /run/user/0, which holds it under root).
 * Each work dir in it stays owner-only, owned by the sandbox's ids.
 */
const SEARCH_ONLY_PARENT = "/run/ironclaw/sandboxes";

function reachableParent(runDir: string): string {
  const searchable = (dir: string) => (statSync(dir).mode & 0o001) !== 0;
  let open = true;
  for (let dir = runDir; open; dir = dirname(dir)) {
    open = searchable(dir);
    if (dir === "/") break;
  }
  if (open) return runDir;
  mkdirSync(SEARCH_ONLY_PARENT, { recursive: true, mode: 0o711 });
  for (let dir = SEARCH_ONLY_PARENT; dir !== "/"; dir = dirname(dir)) {
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== 0 || st.mode & 0o022) {
      throw new SandboxError(
        "EBACKEND",
        `${dir} must be a directory owned by root that only root can write: remove it, or set IRONCLAW_RUN_DIR under directories others may traverse`,
      );
    }
  }
  return SEARCH_ONLY_PARENT;
}

async function writeEtc(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // World-readable files in an owner-only dir: the sandbox, under its own unprivileged ids,
  // reads them through the descriptor bubblewrap binds, never through the path.
  await Promise.all(Object.entries(GENERATED_ETC).map(([name, content]) => writeFile(join(dir, name), content, { mode: 0o644 })));
}

export interface BootOptions {
  readonly argv: readonly string[];
  readonly isolation: string;
  /**
   * Where the guest agent is reached when not on the process's stdio (a VM's virtio-serial
   * socket). Called once the process is running; retried by the caller's own schedule.
   */
  readonly connect?: (signal: AbortSignal) => Promise<Duplex>;
  /** Extra text for error messages, e.g. the tail of a VM's console log. */
  readonly moreDiagnostics?: () => string;
  /** The guest is restored from a snapshot, its agent mid-session (see GuestChannel's resume). */
  readonly resume?: boolean;
  /** Host ids and extra descriptors for the sandbox binary (see spawnSandboxProcess). */
  readonly spawn?: Pick<SandboxSpawnOptions, "runAs" | "extraStdio" | "umask">;
  /** Runs once the sandbox binary is started and before its agent is awaited (bubblewrap's id handshake). */
  readonly started?: (child: ChildProcess) => Promise<void>;
}

export async function bootProcessSandbox(env: DriverEnv, record: SandboxRecord, options: BootOptions, signal?: AbortSignal): Promise<Sandbox> {
  signal?.throwIfAborted(); // teardown may already have removed the record: start nothing
  const procs = record.cgroup?.dirs.map((d) => join(d, "cgroup.procs")) ?? [];
  const child = spawnSandboxProcess(options.argv, { cgroupProcs: procs, ...options.spawn });
  const pid = child.pid;
  if (pid === undefined) {
    throw new SandboxError("EBACKEND", `cannot start ${options.argv[0]}: ${await spawnError(child)}`);
  }
  const booted: SandboxRecord = { ...record, process: { pid, start: processStartTime(pid) ?? "" } };
  env.store.write(booted);

  let stderrTail = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString("utf8").replace(KEYRING_NOTICE, "")).slice(-STDERR_KEEP_BYTES);
  });
  child.stdin!.on("error", () => {}); // reported through the channel's close reason instead
  const exited = new Promise<SandboxExit>((resolve) => child.once("exit", (code, sig) => resolve({ code, signal: sig })));
  const diagnostics = () => [stderrTail.trim(), options.moreDiagnostics?.() ?? ""].filter(Boolean).join("\n");

  const abort = () => killProcessGroupSync(booted.process!);
  signal?.addEventListener("abort", abort, { once: true });
  if (signal?.aborted) abort();
  let channel: GuestChannel | undefined;
  try {
    const exitedEarly = exited.then((e) => {
      throw new SandboxError("EBOOT", `sandbox exited before its guest agent started (${e.signal ?? `exit ${e.code}`})${diagnostics() ? `: ${lastLine(diagnostics())}` : ""}`);
    });
    exitedEarly.catch(() => {});
    if (options.started) await Promise.race([options.started(child), exitedEarly]);
    if (options.connect) {
      const connecting = new AbortController();
      void exited.then(() => connecting.abort());
      signal?.addEventListener("abort", () => connecting.abort(), { once: true });
      const stream = await Promise.race([options.connect(connecting.signal), exitedEarly]);
      channel = new GuestChannel(stream, stream, { resume: options.resume ?? false });
    } else {
      channel = new GuestChannel(child.stdout!, child.stdin!);
    }
    const ch = channel;
    const hello = await Promise.race([ch.hello, exitedEarly]);
    void exited.then((e) => ch.close(new GuestError("EPIPE", `sandbox exited (${e.signal ?? `exit ${e.code}`})`)));
    return { record: booted, channel: ch, hello, isolation: options.isolation, exited, diagnostics };
  } catch (err) {
    killProcessGroupSync(booted.process!);
    channel?.close(new GuestError("EPIPE", "boot failed"));
    // Aborted: the teardown that raced this boot may have run before the pid was recorded.
    if (signal?.aborted) {
      await destroyProcessSandbox(env, booted);
      throw err;
    }
    if (err instanceof SandboxError) throw err;
    // The agent's channel closed first: give the sandbox a moment to say why on stderr.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 500))]);
    const why = diagnostics() ? `: ${lastLine(diagnostics())}` : "";
    throw new SandboxError("EBOOT", `sandbox failed to start its guest agent (${(err as Error).message})${why}`);
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}

function lastLine(text: string): string {
  return text.split("\n").filter(Boolean).pop() ?? text;
}

function spawnError(child: ReturnType<typeof spawnSandboxProcess>): Promise<string> {
  return new Promise((resolve) => child.once("error", (e) => resolve(e.message)));
}

/** Kills and removes everything `record` names. Reads the newest record first: boot may have added a pid. */
export async function destroyProcessSandbox(env: DriverEnv, record: SandboxRecord): Promise<void> {
  const latest = env.store.read(record.id) ?? record;
  if (latest.process && latest.cgroup) {
    // Inside first: killed while bwrap (or runsc) still runs, the sandbox's processes are reaped
    // by it; killed after it, they would be orphans that only a reaping init collects.
    killCgroupSync(latest.cgroup, latest.process.pid);
    await waitForExit(latest.process, 500);
  }
  if (latest.process) await killProcessGroup(latest.process);
  try {
    if (latest.cgroup) {
      // The record may hold the planned (empty) dir list of a provision that crashed mid-way.
      const dirs = latest.cgroup.dirs.length ? latest.cgroup.dirs : cgroupDirs(latest.cgroup.version, latest.id);
      await destroyCgroup({ version: latest.cgroup.version, dirs });
    }
  } finally {
    await rm(latest.workDir, { recursive: true, force: true });
  }
  // Only now: a cgroup the kernel still holds keeps its record (and its ids), for the reaper's next try.
  env.store.remove(latest.id);
  if (latest.ids) releaseIdBlock(ID_LOCK_DIR, latest.ids, latest.id);
}

/** For process 'exit' handlers: no awaiting possible, so kill and remove what can be done synchronously. */
export function destroyProcessSandboxSync(env: DriverEnv, id: string): void {
  const record = env.store.read(id);
  if (!record) return;
  if (record.process) killProcessGroupSync(record.process);
  if (record.cgroup) killCgroupSync(record.cgroup);
  rmSync(record.workDir, { recursive: true, force: true });
  // cgroups cannot be removed until the kernel has reaped the processes: the reaper finishes
  // that, and frees the id block with the record.
}
