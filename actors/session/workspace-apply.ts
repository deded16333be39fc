// Writing approved changes to the host, whose tree is hostile too: a cloned repository can hold
// symlinks, and anything may change the tree between the approval and the write. Node has no
// openat or renameat, but on Linux /proc/self/fd/<fd>/<name> resolves <name> inside an open
// directory, which gives their guarantees: the project root and each directory on the way are
// opened one component at a time with O_DIRECTORY|O_NOFOLLOW, so a link anywhere on a path fails
// (ELOOP, ENOTDIR) instead of being followed; files are created O_EXCL|O_NOFOLLOW under random
// names; mkdir, link and rename never follow a link in the final place.
//
// All or nothing: every file is staged first (written to a temporary file beside its target,
// synced, given its mode) and every base re-checked through the same descriptors; only then does
// anything move into place, and what each move replaces is kept aside, so a failure midway puts
// back what was there. Temporary files and directories this apply made are removed on every
// way out that does not keep them.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from "node:fs";
import { refusedName } from "../../core/diff-card.ts";
import { sha256Hex } from "../../core/hash.ts";
import { oneLine } from "../../core/terminal-text.ts";
import { WORKSPACE_EXCLUDES, type WorkspaceChange } from "./workspace.ts";
import { WorkspaceError } from "../../core/errors.ts";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = constants;
const PERMISSION_BITS = 0o777;

/** What an apply did: every path written (added, modified or given a new mode) and deleted. */
export interface ApplyReport {
  readonly written: readonly string[];
  readonly deleted: readonly string[];
}

export interface ApplyOptions {
  /** Told after each path is in place (before the next moves); an exception here is a failure midway, rolled back like any other. */
  readonly onPlaced?: (path: string) => void;
}

const at = (dirFd: number, name: string) => `/proc/self/fd/${dirFd}/${name}`;
const randomName = (what: string) => `.ironclaw-${what}-${randomBytes(12).toString("hex")}`;
const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException).code ?? "EIO";
const NOTHING = "nothing was applied";

function kindOf(s: Stats): string {
  return s.isSymbolicLink() ? "a symbolic link" : s.isDirectory() ? "a directory" : s.isFile() ? "a file" : "a special file";
}

/** The path's components; throws ENAME for anything but a plain relative path IronClaw may write. */
function componentsOf(path: string): string[] {
  const refused = refusedName(path);
  if (refused) throw new WorkspaceError("ENAME", `refusing to write ${oneLine(path)}: ${refused}; ${NOTHING}`);
  const parts = path.split("/");
  const excluded = parts.find((p) => WORKSPACE_EXCLUDES.includes(p));
  if (excluded) throw new WorkspaceError("ENAME", `refusing to write ${oneLine(path)}: IronClaw never applies changes under ${excluded}/; ${NOTHING}`);
  return parts;
}

/** The project's directories, each opened without following links, by relative path ("" is the root). */
class ProjectDirs {
  private readonly fds = new Map<string, number>();
  /** Directories this apply made, in order: removed again if it fails. */
  private readonly made: Array<{ parent: number; name: string }> = [];

  constructor(root: string) {
    try {
      this.fds.set("", openSync(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    } catch (err) {
      throw new WorkspaceError("ELINK", `cannot open the project ${oneLine(root)} as a directory (${errnoOf(err)}); ${NOTHING}`);
    }
    try {
      statSync(`/proc/self/fd/${this.fds.get("")}`);
    } catch {
      this.close();
      throw new WorkspaceError("EAPPLY", `IronClaw applies changes through /proc/self/fd, and /proc is not mounted here; ${NOTHING}`);
    }
  }

  /** The directory holding `parts`' last component; made when missing and `make`, else null. */
  parentOf(parts: readonly string[], make: boolean): number | null {
    let fd = this.fds.get("")!;
    for (let i = 0; i < parts.length - 1; i++) {
      const path = parts.slice(0, i + 1).join("/");
      let child = this.fds.get(path);
      if (child === undefined) {
        const opened = this.openChild(fd, parts[i]!, path, make);
        if (opened === null) return null;
        this.fds.set(path, (child = opened));
      }
      fd = child;
    }
    return fd;
  }

  private openChild(parent: number, name: string, path: string, make: boolean): number | null {
    const open = () => openSync(at(parent, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      return open();
    } catch (err) {
      const code = errnoOf(err);
      if (code === "ELOOP" || code === "ENOTDIR") {
        throw new WorkspaceError("ELINK", `${oneLine(path)} is a symbolic link or not a directory on the host: IronClaw never writes through it; ${NOTHING}`);
      }
      if (code !== "ENOENT") throw err;
      if (!make) return null;
    }
    mkdirSync(at(parent, name), 0o755); // EEXIST, never followed, if a link appeared in its place
    this.made.push({ parent, name });
    try {
      return open();
    } catch (err) {
      if (errnoOf(err) === "ELOOP" || errnoOf(err) === "ENOTDIR") throw new WorkspaceError("ELINK", `${oneLine(path)} was replaced on the host while IronClaw made it; ${NOTHING}`);
      throw err;
    }
  }

  /** After a success: the moves are on disk before IronClaw says they are done. */
  sync(): void {
    for (const fd of this.fds.values()) {
      try {
        fsyncSync(fd);
      } catch {
        // a directory that cannot be synced (some filesystems refuse) is still written
      }
    }
  }

  /** After a failure: the directories this apply made, innermost first (those still empty). */
  removeMade(): void {
    for (const { parent, name } of this.made.reverse()) {
      try {
        rmdirSync(at(parent, name));
      } catch {
        // not empty (something else was put there meanwhile): left as it is
      }
    }
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

function readExactly(fd: number, size: number): Buffer | null {
  const data = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, data, got, size - got, got);
    if (n === 0) return null;
    got += n;
  }
  // One byte more means the file grew since fstat.
  return readSync(fd, Buffer.alloc(1), 0, 1, size) === 0 ? data : null;
}

const changedOnHost = (path: string, how: string) =>
  new WorkspaceError("EBASE", `${oneLine(path)} changed on the host since the sandbox's copy was taken (${how}): ${NOTHING}; run the task again on the current files`);

/** Throws unless the host holds exactly what the change applies to, seen without following links. */
function checkBase(dir: number, name: string, change: WorkspaceChange): void {
  let seen: Stats;
  try {
    seen = lstatSync(at(dir, name));
  } catch (err) {
    if (errnoOf(err) !== "ENOENT") throw err;
    if (change.baseHash === null) return;
    throw changedOnHost(change.path, "it was deleted");
  }
  if (seen.isSymbolicLink()) {
    throw new WorkspaceError("ELINK", `${oneLine(change.path)} is a symbolic link on the host: IronClaw never writes through links; ${NOTHING}`);
  }
  if (change.baseHash === null) throw changedOnHost(change.path, `${kindOf(seen)} is there now`);
  if (!seen.isFile()) throw changedOnHost(change.path, `it is ${kindOf(seen)} now`);
  // Opened only once it is known to be a regular file (opening a device or FIFO can act), and
  // checked to be the same one.
  const fd = openSync(at(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    const s = fstatSync(fd);
    if (!s.isFile() || s.ino !== seen.ino || s.dev !== seen.dev) throw changedOnHost(change.path, "it was replaced");
    if ((s.mode & PERMISSION_BITS) !== change.beforeMode) throw changedOnHost(change.path, "its mode changed");
    const content = s.size === change.before?.length ? readExactly(fd, s.size) : null;
    if (content === null || sha256Hex(content) !== change.baseHash) throw changedOnHost(change.path, "its content changed");
  } finally {
    closeSync(fd);
  }
}

interface Staged {
  readonly change: WorkspaceChange;
  readonly dir: number;
  readonly name: string;
  /** The new content, written and synced under a random name beside the target. */
  tmp: string | null;
  /** What was at the target, kept under a random name until the apply is done. */
  aside: string | null;
  /** Whether `aside` is the only name of the old file (moved, not linked). */
  movedAside: boolean;
  placed: boolean;
}

function stage(dirs: ProjectDirs, change: WorkspaceChange): Staged {
  const parts = componentsOf(change.path);
  const dir = dirs.parentOf(parts, change.after !== null);
  if (dir === null) throw changedOnHost(change.path, "its directory was deleted");
  const staged: Staged = { change, dir, name: parts.at(-1)!, tmp: null, aside: null, movedAside: false, placed: false };
  checkBase(dir, staged.name, change);
  return staged;
}

function writeTemporary(staged: Staged, after: Buffer, mode: number): void {
  const tmp = randomName("new");
  const fd = openSync(at(staged.dir, tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  staged.tmp = tmp;
  try {
    for (let done = 0; done < after.length;) done += writeSync(fd, after, done, after.length - done);
    fchmodSync(fd, mode & PERMISSION_BITS);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function place(s: Staged): void {
  const target = at(s.dir, s.name);
  if (s.change.before !== null) {
    const aside = randomName("old");
    if (s.change.after === null) {
      renameSync(target, at(s.dir, aside)); // the deletion itself, undone by moving it back
      s.movedAside = true;
    } else {
      try {
        linkSync(target, at(s.dir, aside)); // the target stays in place until the rename replaces it
      } catch {
        renameSync(target, at(s.dir, aside)); // hard links refused here (protected_hardlinks, a filesystem without them)
        s.movedAside = true;
      }
    }
    s.aside = aside;
  }
  if (s.tmp !== null) {
    if (s.change.before === null) {
      // link fails (EEXIST) if anything, a link included, appeared at the target since the check.
      linkSync(at(s.dir, s.tmp), target);
      s.placed = true;
      removeQuietly(s.dir, s.tmp);
    } else {
      renameSync(at(s.dir, s.tmp), target);
    }
    s.tmp = null;
  }
  s.placed = true;
}

/** Puts back what `s` replaced; returns a problem if it could not. */
function undo(s: Staged): string | null {
  const target = at(s.dir, s.name);
  try {
    if (s.aside !== null && (s.placed || s.movedAside)) renameSync(at(s.dir, s.aside), target);
    else if (s.placed && s.change.before === null) unlinkSync(target);
    if (s.aside !== null && !s.placed && !s.movedAside) unlinkSync(at(s.dir, s.aside));
    s.aside = null;
    return null;
  } catch (err) {
    return `${oneLine(s.change.path)} (${errnoOf(err)}${s.aside ? `; its previous content is in ${oneLine(s.aside)} beside it` : ""})`;
  }
}

function removeQuietly(dir: number, name: string | null): void {
  if (name === null) return;
  try {
    unlinkSync(at(dir, name));
  } catch {
    // already gone
  }
}

/**
 * Writes the approved changes into the project at `root`, all or nothing. Throws a
 * WorkspaceError (ENAME, EBASE, ELINK, EAPPLY) saying why nothing was applied.
 */
export function applyChanges(root: string, changes: readonly WorkspaceChange[], options: ApplyOptions = {}): ApplyReport {
  const paths = new Set<string>();
  for (const change of changes) {
    if (paths.has(change.path)) throw new WorkspaceError("ENAME", `${oneLine(change.path)} is changed twice in one apply; ${NOTHING}`);
    paths.add(change.path);
    componentsOf(change.path);
  }
  const dirs = new ProjectDirs(root);
  const staged: Staged[] = [];
  let done = false;
  try {
    let current = "";
    try {
      for (const change of changes) {
        current = change.path;
        const s = stage(dirs, change);
        staged.push(s);
        if (change.after !== null) writeTemporary(s, change.after, change.afterMode ?? 0o644);
      }
    } catch (err) {
      if (err instanceof WorkspaceError) throw err;
      throw new WorkspaceError("EAPPLY", `preparing ${oneLine(current)} failed (${errnoOf(err)}: ${oneLine((err as Error).message)}); ${NOTHING}`);
    }
    for (const s of staged) {
      try {
        place(s);
        options.onPlaced?.(s.change.path);
      } catch (err) {
        const stuck = staged
          .filter((x) => x.placed || x.aside !== null)
          .reverse()
          .map(undo)
          .filter((p) => p !== null);
        const why = err instanceof WorkspaceError ? err.message : `${errnoOf(err)}: ${oneLine((err as Error).message)}`;
        if (stuck.length) {
          throw new WorkspaceError(
            "EAPPLY",
            `writing ${oneLine(s.change.path)} failed (${why}), and putting back what was written failed for ${stuck.join(", ")}: the project is partly changed`,
          );
        }
        throw new WorkspaceError("EAPPLY", `writing ${oneLine(s.change.path)} failed (${why}); what was written was put back: ${NOTHING}`);
      }
    }
    done = true;
    for (const s of staged) removeQuietly(s.dir, s.aside);
    dirs.sync();
    return {
      written: staged.filter((s) => s.change.after !== null).map((s) => s.change.path),
      deleted: staged.filter((s) => s.change.after === null).map((s) => s.change.path),
    };
  } finally {
    for (const s of staged) removeQuietly(s.dir, s.tmp);
    if (!done) dirs.removeMade();
    dirs.close();
  }
}
