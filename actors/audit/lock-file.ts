// An exclusive lock file that names its holder by pid and process start time, so a lock left by
// a process that died (or whose pid the kernel has since given to another process) is known to
// be stale. Created with O_EXCL and written in one write; used by the daemon (one per state
// directory) and the audit log (one writer at a time).
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
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

type LockState = { readonly held: true; readonly by: ProcessIdentity | null } | { readonly held: false };

/** Whether a live process holds the lock: the one named in it, or one still writing its name. */
function lockState(path: string): LockState {
  const holder = holderOf(path);
  if (holder) return isAlive(holder) ? { held: true, by: holder } : { held: false };
  try {
    // Nothing readable in it: a holder between create and write, or junk a crash left long ago.
    return Date.now() - statSync(path).mtimeMs > UNWRITTEN_GRACE_MS ? { held: false } : { held: true, by: null };
  } catch {
    return { held: false }; // gone already: the next create will tell
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
      rmSync(path, { force: true }); // its holder is gone (another taker may have broken it first)
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
