// The task's copy of the project. It is copied into the session's sandbox at the start (the
// host's files are never mounted writable), the agent changes it there freely, and at the end
// the difference comes back as one set of file changes for the approval cliff
// (actors/session/workspace-apply.ts writes them once approved).
//
// Everything the sandbox says is hostile: its names, kinds, sizes and bytes. Collection walks the
// sandbox's listing, refuses names no real directory holds, sums the sizes of what could have
// changed against the user's cap before reading a byte, and reads only those files. What cannot
// be applied (links, special files, excluded directories, names with control characters, files
// too large to move) comes back as a skipped change with its reason, for the card to show.
import { sha256Hex } from "../../core/hash.ts";
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { MAX_FILE_BYTES, type FileEntry } from "../../guest-agent/guest-protocol.ts";
import { refusedName, type FileChange, type SkippedChange } from "../../core/diff-card.ts";
import { oneLine } from "../../core/terminal-text.ts";
import { type GuestChannel } from "../guest/guest-channel.ts";
import { GuestError, WorkspaceError } from "../../core/errors.ts";

/** Where the project appears inside the sandbox. */
export const SANDBOX_WORKSPACE = "/workspace";

/** Never copied, never applied: history, installed dependencies and IronClaw's own config are not the task's to change. */
export const WORKSPACE_EXCLUDES = [".git", ".hg", ".svn", ".bzr", ".jj", "node_modules", ".ironclaw"];
const VCS_WHY = "version control: its config and hooks run on any command there, and IronClaw never changes it";
const EXCLUDED_WHY: Record<string, string> = {
  ".git": "version history: IronClaw never changes a repository's .git",
  ".hg": VCS_WHY,
  ".svn": VCS_WHY,
  ".bzr": VCS_WHY,
  ".jj": VCS_WHY,
  node_modules: "installed dependencies: IronClaw never applies them (install them on the host)",
  ".ironclaw": "IronClaw's own config: a task never changes it",
};
const MAX_WORKSPACE_BYTES = 64 * 1024 * 1024;
/** The most entries collection lists, whatever the sandbox holds: the listing is kept in host memory too. */
const MAX_LISTED_ENTRIES = 200_000;
/** An excluded or refused directory is counted up to this many files, then reported as "or more". */
const MAX_COUNTED = 10_000;
/** Only the permission bits come back: setuid, setgid and sticky never do. */
const PERMISSION_BITS = 0o777;

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

/**
 * How each copied file looked inside the sandbox right after the copy: a file whose size, mode
 * and modification time are still these was not touched, and is not read back. (The guest's
 * umask may give a copied file another mode than the host's; this is the mode to compare with.)
 */
export type SandboxBaseline = ReadonlyMap<string, { readonly size: number; readonly mode: number; readonly mtimeMs: number }>;

/** One file going back to the host: exact bytes and permission bits of both sides, and the base it applies to. */
export type WorkspaceChange = FileChange;

export interface CollectedChanges {
  readonly changes: readonly WorkspaceChange[];
  readonly skipped: readonly SkippedChange[];
}

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
        if (content.length > MAX_FILE_BYTES)
          throw new WorkspaceError("ECAP", `${relative(root, path)} is larger than ${MAX_FILE_BYTES} bytes: IronClaw copies only smaller files into the sandbox`);
        total += content.length;
        if (total > MAX_WORKSPACE_BYTES)
          throw new WorkspaceError(
            "ECAP",
            `the project is larger than ${MAX_WORKSPACE_BYTES >> 20} MiB (excluding ${WORKSPACE_EXCLUDES.join(", ")}): run IronClaw on a smaller directory`,
          );
        files.set(relative(root, path).split(sep).join("/"), { content, hash: sha256Hex(content), mode: lstatSync(path).mode & PERMISSION_BITS });
      }
      // Symlinks and special files are not copied: a link could point the sandbox's writes anywhere on apply.
    }
  };
  walk(root);
  return { root, files };
}

/**
 * Creates the workspace in the sandbox, writes every file of the snapshot into it, and returns
 * how the copies look there (the baseline collection compares with).
 */
export async function copyIntoSandbox(channel: Pick<GuestChannel, "exec" | "writeFile" | "list">, snapshot: WorkspaceSnapshot): Promise<SandboxBaseline> {
  const dirs = new Set<string>([SANDBOX_WORKSPACE]);
  for (const path of snapshot.files.keys()) dirs.add(dirname(`${SANDBOX_WORKSPACE}/${path}`));
  const made = await channel.exec({ argv: ["mkdir", "-p", ...dirs], timeoutMs: 30_000 });
  if (made.code !== 0) throw new WorkspaceError("EAPPLY", `cannot create ${SANDBOX_WORKSPACE} in the sandbox (mkdir exited ${made.code ?? made.signal})`);
  for (const [path, file] of snapshot.files) await channel.writeFile(`${SANDBOX_WORKSPACE}/${path}`, file.content, file.mode);
  const baseline = new Map<string, { size: number; mode: number; mtimeMs: number }>();
  for (const file of (await listSandbox(channel)).files) {
    if (snapshot.files.has(file.path)) baseline.set(file.path, { size: file.size, mode: file.mode, mtimeMs: file.mtimeMs });
  }
  return baseline;
}

/** Why `name`, as the sandbox's listing gave it, is one no directory can hold; null if it is fine. */
function impossibleName(name: string): string | null {
  if (name === "" || name === "." || name === "..") return "an empty, . or .. entry";
  if (name.includes("/")) return "a name with a slash";
  if (name.includes("\0")) return "a name with a NUL byte";
  if (Buffer.byteLength(name) > 255) return "a name longer than 255 bytes";
  return null;
}

interface ListedFile {
  readonly path: string;
  readonly size: number;
  readonly mode: number;
  readonly mtimeMs: number;
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/**
 * Every regular file under the sandbox's workspace, and everything there that will not come
 * back. Bounded: at most MAX_LISTED_ENTRIES entries are listed, whatever the sandbox holds.
 */
async function listSandbox(channel: Pick<GuestChannel, "list">, signal?: AbortSignal): Promise<{ files: ListedFile[]; skipped: SkippedChange[] }> {
  const files: ListedFile[] = [];
  const skipped: SkippedChange[] = [];
  let listed = 0;
  const list = async (dir: string): Promise<readonly FileEntry[]> => {
    signal?.throwIfAborted();
    const entries = await channel.list(`${SANDBOX_WORKSPACE}${dir ? `/${dir}` : ""}`);
    listed += entries.length;
    if (listed > MAX_LISTED_ENTRIES) {
      throw new WorkspaceError("ECAP", `the sandbox's workspace holds more than ${MAX_LISTED_ENTRIES} files and directories: IronClaw collects no more; nothing was applied`);
    }
    for (const entry of entries) {
      const problem = impossibleName(entry.name);
      if (problem)
        throw new WorkspaceError(
          "ENAME",
          `the sandbox listed ${problem} (${oneLine(JSON.stringify(entry.name))}) in ${oneLine(dir || SANDBOX_WORKSPACE)}: its listing cannot be trusted; nothing was applied`,
        );
    }
    return entries;
  };
  /** Files under `dir`, counted up to MAX_COUNTED. */
  const count = async (dir: string): Promise<number> => {
    let n = 0;
    for (const entry of await list(dir)) {
      if (n >= MAX_COUNTED) break;
      n += entry.kind === "directory" ? await count(`${dir}/${entry.name}`) : 1;
    }
    return Math.min(n, MAX_COUNTED);
  };
  const counted = (n: number) => (n >= MAX_COUNTED ? `${MAX_COUNTED} or more files` : plural(n, "file"));
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await list(dir)) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (WORKSPACE_EXCLUDES.includes(entry.name)) {
        const what = entry.kind === "directory" ? `${counted(await count(path))} under ${entry.name}/` : entry.name;
        skipped.push({
          path: entry.kind === "directory" ? `${path}/` : path,
          kind: entry.kind === "directory" ? "directory" : "file",
          why: `${what}, ${EXCLUDED_WHY[entry.name]}`,
        });
      } else if (entry.kind === "symlink") {
        skipped.push({ path, kind: "symbolic link", why: "IronClaw never creates links in your project" });
      } else if (entry.kind === "other") {
        skipped.push({ path, kind: "special file", why: "a FIFO, socket or device: IronClaw applies regular files only" });
      } else if (entry.kind === "directory") {
        // Walked whatever its name: only its changed files are reported (a refused name on the
        // host's side would otherwise be listed on every card).
        await walk(path);
      } else {
        files.push({ path, size: entry.size, mode: entry.mode & PERMISSION_BITS, mtimeMs: entry.mtimeMs });
      }
    }
  };
  await walk("");
  return { files, skipped };
}

/** MiB as a person reads them: whole when exact, else rounded up (one decimal below 10), never shown smaller than it is. */
const mib = (bytes: number) => {
  const m = bytes / 2 ** 20;
  if (Number.isInteger(m)) return String(m);
  return m < 10 ? (Math.ceil(m * 10) / 10).toFixed(1) : String(Math.ceil(m));
};

/** `size` unknown: the file grew past the limit after it was listed. */
const tooLarge = (path: string, size?: number): SkippedChange => ({
  path,
  kind: "file",
  why: `${size === undefined ? "over" : `${mib(size)} MiB, over`} ${MAX_FILE_BYTES >> 20} MiB: the most IronClaw moves in one file`,
});

export interface CollectOptions {
  /** The most the changed files may add up to (workspace.maxChangeMiB), in bytes. */
  readonly maxBytes: number;
  /** Named in the over-the-cap message: where the user sets the cap. */
  readonly capSetting: string;
  readonly signal?: AbortSignal;
}

/**
 * What the sandbox changed against the snapshot: added, modified (content or mode) and deleted
 * files, and what will not be applied, with why. Throws ECAP, before reading any file, when the
 * files that could have changed add up to more than `maxBytes`; host memory holds at most that
 * much of the sandbox's bytes (and one frame).
 */
export async function collectChanges(
  channel: Pick<GuestChannel, "list" | "readFile">,
  snapshot: WorkspaceSnapshot,
  baseline: SandboxBaseline,
  options: CollectOptions,
): Promise<CollectedChanges> {
  const { signal } = options;
  const listing = await listSandbox(channel, signal);
  const skipped = [...listing.skipped];
  const changes: WorkspaceChange[] = [];
  const present = new Set<string>();
  const toRead: ListedFile[] = [];
  let total = 0;
  for (const file of listing.files) {
    present.add(file.path);
    const base = snapshot.files.get(file.path);
    const seen = baseline.get(file.path);
    const untouched = base !== undefined && seen !== undefined && seen.size === file.size && seen.mtimeMs === file.mtimeMs;
    const modeChanged = seen === undefined || seen.mode !== file.mode;
    if (untouched && !modeChanged) continue;
    const refused = refusedName(file.path);
    if (refused) {
      skipped.push({ path: file.path, kind: "file", why: refused });
      continue;
    }
    if (untouched) {
      // Only chmod: the bytes are the host's own.
      changes.push({ path: file.path, before: base.content, after: base.content, beforeMode: base.mode, afterMode: file.mode, baseHash: base.hash });
      continue;
    }
    total += file.size;
    toRead.push(file);
  }
  if (total > options.maxBytes) {
    throw new WorkspaceError("ECAP", `the sandbox's changes add up to ${mib(total)} MiB, over the ${mib(options.maxBytes)} MiB cap (${options.capSetting}); nothing was applied`);
  }
  let read = 0;
  for (const file of toRead) {
    signal?.throwIfAborted();
    const base = snapshot.files.get(file.path);
    if (file.size > MAX_FILE_BYTES) {
      skipped.push(tooLarge(file.path, file.size));
      continue;
    }
    let after: Buffer;
    try {
      after = await channel.readFile(`${SANDBOX_WORKSPACE}/${file.path}`);
    } catch (err) {
      // Removed or grown since it was listed (a process left running in the sandbox): the card
      // shows the file as it is now.
      if (err instanceof GuestError && err.code === "ENOENT") {
        present.delete(file.path);
        continue;
      }
      if (err instanceof GuestError && err.code === "E2BIG") {
        skipped.push(tooLarge(file.path));
        continue;
      }
      throw err;
    }
    // The guest may send more than it listed; the cap holds for what actually came.
    read += after.length;
    if (read > options.maxBytes) {
      throw new WorkspaceError("ECAP", `the sandbox's changes add up to more than the ${mib(options.maxBytes)} MiB cap (${options.capSetting}); nothing was applied`);
    }
    if (base && base.hash === sha256Hex(after) && baseline.get(file.path)?.mode === file.mode) continue;
    const keptMode = base && baseline.get(file.path)?.mode === file.mode;
    changes.push({
      path: file.path,
      before: base?.content ?? null,
      after,
      beforeMode: base?.mode ?? null,
      afterMode: keptMode ? base.mode : file.mode,
      baseHash: base?.hash ?? null,
    });
  }
  for (const [path, base] of snapshot.files) {
    if (present.has(path)) continue;
    const refused = refusedName(path);
    if (refused) skipped.push({ path, kind: "file", why: `deleted in the sandbox, but ${refused}` });
    else changes.push({ path, before: base.content, after: null, beforeMode: base.mode, afterMode: null, baseHash: base.hash });
  }
  const byPath = <T extends { path: string }>(a: T, b: T) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return { changes: changes.sort(byPath), skipped: skipped.sort(byPath) };
}
