// The task's copy of the project. It is copied into the session's sandbox at the start (the
// host's files are never mounted writable), the agent changes it there freely, and at the end
// the difference comes back as one set of file changes for the approval cliff. Applying checks
// every file's base: if the host's file changed since the copy was taken, nothing is applied.
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { MAX_FILE_BYTES } from "../guest-agent/guest-protocol.ts";
import type { GuestChannel } from "./guest-channel.ts";

/** Where the project appears inside the sandbox. */
export const SANDBOX_WORKSPACE = "/workspace";

/** Never copied: history, installed dependencies and IronClaw's own config are not the task's to change. */
export const WORKSPACE_EXCLUDES = [".git", "node_modules", ".ironclaw"];
const MAX_WORKSPACE_BYTES = 64 * 1024 * 1024;

export interface WorkspaceFile {
  readonly content: Buffer;
  readonly hash: string;
  readonly mode: number;
}

/** The project as it was when copied: what the sandbox started from, and the base every change applies to. */
export interface WorkspaceSnapshot {
  readonly root: string;
  readonly files: ReadonlyMap<string, WorkspaceFile>;
}

export interface WorkspaceChange {
  /** Relative to the project root, with forward slashes. */
  readonly path: string;
  readonly before: Buffer | null;
  readonly after: Buffer | null;
  /** SHA-256 of the host's file when the copy was taken (null: it did not exist). */
  readonly baseHash: string | null;
  readonly mode: number;
}

export class WorkspaceError extends Error {
  override name = "WorkspaceError";
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

export function snapshotProject(root: string): WorkspaceSnapshot {
  const files = new Map<string, WorkspaceFile>();
  let total = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (WORKSPACE_EXCLUDES.includes(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const content = readFileSync(path);
        if (content.length > MAX_FILE_BYTES) throw new WorkspaceError(`${relative(root, path)} is larger than ${MAX_FILE_BYTES} bytes: IronClaw copies only smaller files into the sandbox`);
        total += content.length;
        if (total > MAX_WORKSPACE_BYTES) throw new WorkspaceError(`the project is larger than ${MAX_WORKSPACE_BYTES >> 20} MiB (excluding ${WORKSPACE_EXCLUDES.join(", ")}): run IronClaw on a smaller directory`);
        files.set(relative(root, path).split(sep).join("/"), { content, hash: sha256(content), mode: lstatSync(path).mode & 0o777 });
      }
      // Symlinks and special files are not copied: a link could point the sandbox's writes anywhere on apply.
    }
  };
  walk(root);
  return { root, files };
}

/** Creates the workspace in the sandbox and writes every file of the snapshot into it. */
export async function copyIntoSandbox(channel: GuestChannel, snapshot: WorkspaceSnapshot): Promise<void> {
  const dirs = new Set<string>([SANDBOX_WORKSPACE]);
  for (const path of snapshot.files.keys()) dirs.add(dirname(`${SANDBOX_WORKSPACE}/${path}`));
  const made = await channel.exec({ argv: ["mkdir", "-p", ...dirs], timeoutMs: 30_000 });
  if (made.code !== 0) throw new WorkspaceError(`cannot create ${SANDBOX_WORKSPACE} in the sandbox (mkdir exited ${made.code ?? made.signal})`);
  for (const [path, file] of snapshot.files) await channel.writeFile(`${SANDBOX_WORKSPACE}/${path}`, file.content, file.mode);
}

/** Every regular file now under the sandbox's workspace (the agent may have added or removed some). */
async function sandboxFiles(channel: GuestChannel): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const entry of await channel.list(dir)) {
      if (rel === "" && WORKSPACE_EXCLUDES.includes(entry.name)) continue;
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.kind === "directory") await walk(`${dir}/${entry.name}`, childRel);
      else if (entry.kind === "file") found.push(childRel);
    }
  };
  await walk(SANDBOX_WORKSPACE, "");
  return found.sort();
}

/** What the sandbox changed against the snapshot: added, modified and deleted files. */
export async function collectChanges(channel: GuestChannel, snapshot: WorkspaceSnapshot): Promise<WorkspaceChange[]> {
  const changes: WorkspaceChange[] = [];
  const now = await sandboxFiles(channel);
  for (const path of now) {
    const after = await channel.readFile(`${SANDBOX_WORKSPACE}/${path}`);
    const base = snapshot.files.get(path);
    if (base && base.hash === sha256(after)) continue;
    changes.push({ path, before: base?.content ?? null, after, baseHash: base?.hash ?? null, mode: base?.mode ?? 0o644 });
  }
  for (const [path, base] of snapshot.files) {
    if (!now.includes(path)) changes.push({ path, before: base.content, after: null, baseHash: base.hash, mode: base.mode });
  }
  return changes.sort((a, b) => a.path.localeCompare(b.path));
}

function hostHash(root: string, path: string): string | null {
  try {
    const full = join(root, path);
    if (!lstatSync(full).isFile()) return "not-a-file";
    return sha256(readFileSync(full));
  } catch {
    return null;
  }
}

/**
 * Writes the changes to the host, all or nothing as far as the checks go: every file's base is
 * checked first (the host must still hold what the copy was taken from), paths must stay inside
 * the project, and each file is written to a temporary name and renamed into place.
 */
export function applyChanges(root: string, changes: readonly WorkspaceChange[]): void {
  for (const change of changes) {
    const full = join(root, change.path);
    if (relative(root, full).startsWith("..") || change.path.split("/").some((p) => WORKSPACE_EXCLUDES.includes(p))) {
      throw new WorkspaceError(`refusing to write ${change.path}: outside the project or in an excluded directory`);
    }
    // A directory on the way that is a symlink on the host (the sandbox may make `link/x` where
    // the host has `link -> /etc`) would send the write outside the project.
    const parts = change.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = join(root, ...parts.slice(0, i));
      let stat;
      try {
        stat = lstatSync(dir);
      } catch {
        break; // does not exist yet: it will be made as a real directory
      }
      if (!stat.isDirectory()) throw new WorkspaceError(`refusing to write ${change.path}: ${relative(root, dir)} is not a directory on the host (a symlink?)`);
    }
    const current = hostHash(root, change.path);
    if (current !== change.baseHash) {
      throw new WorkspaceError(`${change.path} changed on the host since the sandbox's copy was taken: nothing was applied; run the task again on the current files`);
    }
  }
  for (const change of changes) {
    const full = join(root, change.path);
    if (change.after === null) {
      rmSync(full, { force: true });
      continue;
    }
    mkdirSync(dirname(full), { recursive: true });
    const tmp = `${full}.ironclaw-${process.pid}.tmp`;
    writeFileSync(tmp, change.after, { mode: change.mode });
    renameSync(tmp, full);
  }
}
