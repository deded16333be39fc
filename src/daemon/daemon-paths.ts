// Where a running daemon can be found: its socket (owner-only) and a record of its process.
import { join } from "node:path";
import { stateDir } from "../../core/paths.ts";

export const daemonSocketPath = () => join(stateDir(), "daemon.sock");
export const daemonLockPath = () => join(stateDir(), "daemon.lock");
export const daemonRecordPath = () => join(stateDir(), "daemon.json");
export const daemonLogPath = () => join(stateDir(), "logs", "daemon.out");
