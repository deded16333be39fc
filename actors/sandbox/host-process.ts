// Starting and killing the host processes that hold a sandbox. Two rules make "no sandbox
// outlives its actor" hold even when IronClaw is SIGKILLed: the sandbox binary is started
// with a parent-death signal (util-linux setpriv), and it joins its cgroup before it execs,
// so every descendant is countable and killable from the record alone.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

const SETPRIV = "/usr/bin/setpriv";
const KEYCTL = "/usr/bin/keyctl";
// Joins each cgroup named in the arguments before --, then execs the rest. POSIX sh only.
const JOIN_THEN_EXEC = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/** A process identity that survives pid reuse: the pid plus its start time in clock ticks since boot. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly start: string;
}

export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22; the command name (field 2) may contain spaces, so count from its closing paren.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

export function isAlive(who: ProcessIdentity): boolean {
  return processStartTime(who.pid) === who.start;
}

function isZombie(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return true;
  }
}

export function hasParentDeathSignal(): boolean {
  return existsSync(SETPRIV);
}

/** Whether sandboxes start in a fresh, empty session keyring (keyutils' keyctl is installed). */
export function hasFreshKeyring(): boolean {
  return existsSync(KEYCTL);
}

/** What keyctl says on stderr when it joins the keyring: not a diagnostic worth showing. */
export const KEYRING_NOTICE = /^Joined session keyring: \d+\n?/gm;

export interface SandboxSpawnOptions {
  /** cgroup.procs files to join before exec. */
  readonly cgroupProcs: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Host ids the sandbox binary runs under, set after the cgroup is joined (which needs root)
   * and before it starts: it never runs as the caller, so never as host root.
   */
  readonly runAs?: { readonly uid: number; readonly gid: number };
  /** Descriptors the sandbox binary gets from fd 3 on: a host fd, or a pipe the caller speaks on. */
  readonly extraStdio?: readonly (number | "pipe")[];
  /** The file mode mask the sandbox starts with, instead of IronClaw's own (which may be 077). */
  readonly umask?: number;
}

/**
 * Spawns the sandbox binary in its own process group (so a terminal's Ctrl-C reaches IronClaw,
 * which then tears down in order, rather than the sandbox directly) with stdio as pipes.
 */
export function spawnSandboxProcess(argv: readonly string[], options: SandboxSpawnOptions): ChildProcess {
  // A fresh, empty session keyring: the caller's keys (root's, often) are not the sandbox's to possess.
  const keyring = hasFreshKeyring() ? [KEYCTL, "session", "-"] : [];
  const identity = options.runAs ? [SETPRIV, `--reuid=${options.runAs.uid}`, `--regid=${options.runAs.gid}`, "--clear-groups", "--pdeathsig", "KILL", "--"] : [];
  const mask = options.umask === undefined ? "" : `umask ${options.umask.toString(8).padStart(3, "0")}; `;
  const inner = ["/bin/sh", "-c", mask + JOIN_THEN_EXEC, "sh", ...options.cgroupProcs, "--", ...identity, ...keyring, ...argv];
  const full = hasParentDeathSignal() ? [SETPRIV, "--pdeathsig", "KILL", "--", ...inner] : inner;
  return spawn(full[0]!, full.slice(1), {
    detached: true,
    stdio: ["pipe", "pipe", "pipe", ...(options.extraStdio ?? [])],
    env: options.env ?? { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
}

/** SIGKILLs the process group led by `who` if it is still that process; waits (bounded) until it is gone. */
export async function killProcessGroup(who: ProcessIdentity, waitMs = 2000): Promise<void> {
  if (!isAlive(who)) return;
  try {
    process.kill(-who.pid, "SIGKILL");
  } catch {
    try {
      process.kill(who.pid, "SIGKILL");
    } catch {
      return;
    }
  }
  const deadline = Date.now() + waitMs;
  while (isAlive(who) && Date.now() < deadline) {
    // A zombie keeps its /proc entry until reaped by its parent; that is "dead enough".
    if (isZombie(who.pid)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits (bounded) for a process to exit by itself; true when it did. */
export async function waitForExit(who: ProcessIdentity, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  while (isAlive(who) && !isZombie(who.pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/** The synchronous last resort used from process 'exit' handlers, where nothing can be awaited. */
export function killProcessGroupSync(who: ProcessIdentity): void {
  if (!isAlive(who)) return;
  try {
    process.kill(-who.pid, "SIGKILL");
  } catch {
    // gone
  }
}
