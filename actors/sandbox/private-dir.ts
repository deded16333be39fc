// Directories that hold sockets, work dirs and snapshots must be this user's alone: under a
// shared /tmp another local user could create the path first (and then own our QMP socket or
// swap in a symlink). Refuse anything we did not make for ourselves.
import { chmodSync, lstatSync, mkdirSync } from "node:fs";
import { PrivateDirError } from "../../core/errors.ts";

/** Creates `dir` (0700) if missing; throws unless it is a real directory owned by this user. */
export function ensurePrivateDir(dir: string, hint: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory()) throw new PrivateDirError(`${dir} is not a directory (a symlink or file is in its place): remove it, or ${hint}`);
  if (uid !== undefined && stat.uid !== uid) {
    throw new PrivateDirError(`${dir} belongs to uid ${stat.uid}, not to you (uid ${uid}): remove it, or ${hint}`);
  }
  // Ours but readable by others (made by an older version, or under a loose umask): tighten it.
  if (stat.mode & 0o077) chmodSync(dir, 0o700);
}
