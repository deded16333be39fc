// One daemon per state directory. Two `ironclaw up` started together can both find no daemon
// answering; the lock file, created exclusively, decides which one runs. It names its holder
// by pid and start time, so a lock left by a killed daemon is recognised as stale.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { isAlive, processStartTime, type ProcessIdentity } from "../../actors/sandbox/host-process.ts";
import { DaemonLockedError } from "../../core/errors.ts";

export interface DaemonLock {
  release(): void;
}

function holder(path: string): ProcessIdentity | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as ProcessIdentity;
  } catch {
    return null;
  }
}

/** The live process holding the lock, if any: a daemon that is starting or running. */
export function lockHolder(path: string): ProcessIdentity | null {
  const other = holder(path);
  return other && isAlive(other) ? other : null;
}

export function acquireDaemonLock(path: string): DaemonLock {
  const me: ProcessIdentity = { pid: process.pid, start: processStartTime(process.pid) ?? "" };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const other = holder(path);
      // A holder that is mid-write has no content yet: treat as live rather than steal it.
      if (other === null || isAlive(other)) {
        throw new DaemonLockedError(`another daemon is starting or running${other ? ` (pid ${other.pid})` : ""}; stop it with \`ironclaw down\``);
      }
      rmSync(path, { force: true }); // its holder is gone
      continue;
    }
    writeSync(fd, JSON.stringify(me));
    closeSync(fd);
    return {
      release: () => {
        if (holder(path)?.pid === process.pid) rmSync(path, { force: true });
      },
    };
  }
  throw new DaemonLockedError(`cannot take the daemon lock ${path}; remove it if no daemon runs`);
}
