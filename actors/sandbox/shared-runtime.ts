// The Node binary and guest agent a namespace sandbox runs, where its unprivileged host ids can
// reach them. bubblewrap resolves every bind source by path under the sandbox's ids, so a
// checkout in a directory closed to others (/root/ironclaw, mode 0700 on Debian) cannot be
// bound as it is: IronClaw (as root) then copies the two files once per version into a
// root-owned, world-readable cache and binds those. Nothing there is secret: it is the runtime.
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, renameSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { SandboxError } from "../../core/errors.ts";

export interface RuntimeFiles {
  readonly nodePath: string;
  readonly agentPath: string;
}

const CACHE = "/var/cache/ironclaw/runtime";

/** Whether any process, whatever its ids, can reach and read `path` (others' x on every ancestor, r on it, and x if a directory). */
export function readableByAnyone(path: string): boolean {
  try {
    const st = statSync(path);
    if ((st.mode & 0o004) === 0 || (st.isDirectory() && (st.mode & 0o001) === 0)) return false;
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return false;
      if (dir === "/") return true;
    }
  } catch {
    return false;
  }
}

/** A root-owned directory that only root may write: what the cache may be built in. */
function safeDir(dir: string): boolean {
  const s = lstatSync(dir);
  return s.isDirectory() && s.uid === 0 && (s.mode & 0o022) === 0;
}

function ensureSafeDir(dir: string): void {
  for (let at = dir; at !== "/"; at = dirname(at)) {
    if (existsSync(at)) {
      if (!safeDir(at)) throw new SandboxError("EBACKEND", `${at} is not a root-owned directory only root can write: remove it so IronClaw can cache its sandbox runtime there`);
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // Every directory this made, /var/cache/ironclaw included: under umask 077 they would be closed.
  for (let at = dir; at !== "/" && at !== dirname(dirname(CACHE)); at = dirname(at)) chmodSync(at, 0o755);
}

function stage(source: string, dir: string): string {
  const target = join(dir, basename(source));
  if (existsSync(target)) return target;
  const tmp = `${target}.${process.pid}.tmp`;
  copyFileSync(source, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
  return target;
}

/** The runtime as every sandbox id can read it: the files themselves, or copies in the cache. */
export function sharedRuntime(files: RuntimeFiles): RuntimeFiles {
  if (readableByAnyone(files.nodePath) && readableByAnyone(files.agentPath)) return files;
  // Missing: nothing to stage; the sandbox's boot says the agent cannot start.
  if (!existsSync(files.nodePath) || !existsSync(files.agentPath)) return files;
  // Keyed by what the files are (path, size, change time), not by hashing 100 MB on every boot.
  const key = createHash("sha256");
  for (const p of [files.nodePath, files.agentPath]) {
    const s = statSync(p);
    key.update(`${p}\0${s.size}\0${s.mtimeMs}\0${s.ino}\0`);
  }
  const dir = join(CACHE, key.digest("hex").slice(0, 16));
  ensureSafeDir(dir);
  return { nodePath: stage(files.nodePath, dir), agentPath: stage(files.agentPath, dir) };
}
