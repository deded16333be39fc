// One daemon per state directory. Two `ironclaw up` started together can both find no daemon
// answering; the lock file (actors/audit/lock-file.ts: pid and start time, so a lock left by a
// killed daemon is recognised as stale) decides which one runs.
import { tryLock, type HeldLock } from "../../actors/audit/lock-file.ts";
import { DaemonLockedError } from "../../core/errors.ts";

export { lockHolder } from "../../actors/audit/lock-file.ts";

export function acquireDaemonLock(path: string): HeldLock {
  const taken = tryLock(path);
  if ("lock" in taken) return taken.lock;
  throw new DaemonLockedError(`another daemon is starting or running${taken.heldBy ? ` (pid ${taken.heldBy.pid})` : ""}; stop it with \`ironclaw down\``);
}
