// An exclusive lock file that names its holder by pid and process start time, so a lock left by
// a process that died (or whose pid the kernel has since given to another process) is known to
// be stale. Created with O_EXCL and written in one write; used by the daemon (one per state
// directory) and the audit log (one writer at a time).
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { isAlive, processStartTime, type ProcessIdentity } from "../sandbox/host-process.ts";

/** A holder that has created the file but not yet written itself into it is given this long. */
const UNWRITTEN_GRACE_MS = 10_000;

export interface HeldLock {
  release(): void;
}

/** Who the file names, if it names a process in the form this module writes. */
function holderOf(path: string): ProcessIdentity | null {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as unknown;
    const { pid, start } = (parsed ?? {}) as { pid?: unknown; start?: unknown };
    return typeof pid === "number" && typeof start === "string" ? { pid, start } : null;
  } catch {
    return null;
  }
}

type LockState =
  | { readonly held: true; readonly by: ProcessIdentity | null }
  /** Its holder is gone: the file is left to break, naming that holder (null: junk, never written). */
  | { readonly held: false; readonly stale: ProcessIdentity | null }
  /** No file any more: its holder released it. */
  | { readonly held: false; readonly stale: undefined };

/** Whether a live process holds the lock: the one named in it, or one still writing its name. */
function lockState(path: string): LockState {
  const holder = holderOf(path);
  if (holder) return isAlive(holder) ? { held: true, by: holder } : { held: false, stale: holder };
  try {
    // Nothing readable in it: a holder between create and write, or junk a crash left long ago.
    return Date.now() - statSync(path).mtimeMs > UNWRITTEN_GRACE_MS ? { held: false, stale: null } : { held: true, by: null };
  } catch {
    return { held: false, stale: undefined };
  }
}

const sameHolder = (a: ProcessIdentity | null, b: ProcessIdentity | null) => a?.pid === b?.pid && a?.start === b?.start;

/**
 * Removes a stale lock without ever removing a live one: between judging the file stale and
 * removing it, its holder may have been replaced (another taker broke it and took the lock). So
 * the file is first renamed aside — atomic — and removed only if it is still the one judged
 * stale; a live lock taken by mistake is linked back (unless yet another has been made since).
 */
function breakStale(path: string, stale: ProcessIdentity | null): void {
  const aside = `${path}.stale-${process.pid}-${Date.now()}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // gone already: someone else broke or released it
  }
  try {
    const found = holderOf(aside);
    // Junk is stale only while it is still old: a fresh unwritten file is a holder being born.
    const stillStale = stale === null ? found === null && Date.now() - statSync(aside).mtimeMs > UNWRITTEN_GRACE_MS : sameHolder(found, stale);
    if (!stillStale) linkSync(aside, path);
  } catch {
    // a new lock exists already; the one set aside is the one to give up
  } finally {
    rmSync(aside, { force: true });
  }
}

/** The live process holding the lock at `path`, if one does and has written its name. */
export function lockHolder(path: string): ProcessIdentity | null {
  const state = lockState(path);
  return state.held ? state.by : null;
}

/**
 * Takes the lock, breaking it if its holder is gone; when a live process holds it, returns
 * who (null while that process has not written its name yet) and takes nothing.
 */
export function tryLock(path: string): { readonly lock: HeldLock } | { readonly heldBy: ProcessIdentity | null } {
  const me: ProcessIdentity = { pid: process.pid, start: processStartTime(process.pid) ?? "" };
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const state = lockState(path);
      if (state.held) return { heldBy: state.by };
      // Released since the create failed: just try again. Stale: break it, safely, then try again.
      if (state.stale !== undefined) breakStale(path, state.stale);
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me));
    } finally {
      closeSync(fd);
    }
    return {
      lock: {
        release: () => {
          if (holderOf(path)?.pid === me.pid) rmSync(path, { force: true });
        },
      },
    };
  }
}
