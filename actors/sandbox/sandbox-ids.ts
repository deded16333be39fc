// Host user and group ids for sandboxes. When IronClaw runs as root, no sandbox may hold host
// uid 0: each sandbox gets its own block of 65,536 host ids, taken from the subordinate range
// that scripts/setup.sh reserves for the system user `ironclaw` in /etc/subuid and /etc/subgid
// (the distribution's own registry of such ranges, so no login user is ever given them).
// A block is held by a lock file in one machine-wide directory (/run/ironclaw/idblocks: every
// state directory's sandboxes share the range), created exclusively and named in the sandbox's
// record, so two sandboxes never share one and a crash's block is freed by the reaper.
import { closeSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { isAlive, type ProcessIdentity } from "./host-process.ts";
import { IdBlockError, SandboxError } from "../../core/errors.ts";

/** Ids a sandbox sees: 0 … 65535, as in any Linux system. */
export const BLOCK_SIZE = 65_536;
/** The guest agent's uid and gid inside a sandbox; commands run as 0, so they cannot reach it. */
export const AGENT_ID = 999;
/**
 * The capabilities the agent keeps, inside the sandbox's own user namespace only: to start each
 * command as uid 0 with an empty bounding set (SETUID, SETGID, SETPCAP) and to read and write the
 * sandbox's files whoever owns them (DAC_OVERRIDE), and to hand the directories bubblewrap made
 * as uid 999 (bubblewrap; under gVisor, runsc) (/, /tmp, /root, …) to root, whom commands run as (CHOWN, FOWNER). Commands get none.
 */
export const AGENT_CAPS = ["CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER"] as const;

/** The system user that owns IronClaw's subordinate range. */
export const RANGE_OWNER = "ironclaw";

export interface IdRange {
  readonly uidStart: number;
  readonly gidStart: number;
  /** Whole blocks available in both ranges. */
  readonly blocks: number;
}

/** One sandbox's ids: inside id n is host id base + n. */
export interface IdBlock {
  readonly index: number;
  readonly uidBase: number;
  readonly gidBase: number;
}

export type IdRangeProblem = { readonly ok: false; readonly reason: string };

const SETUP_HINT = "run scripts/setup.sh as root (it reserves a range for the system user `ironclaw` with usermod --add-subuids/--add-subgids)";

function ownerRange(file: string): { start: number; count: number } | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const [name, start, count] = line.trim().split(":");
    if (name !== RANGE_OWNER) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s > 0 && c >= BLOCK_SIZE) return { start: s, count: c };
  }
  return null;
}

/** IronClaw's reserved range, or why there is none. Files are parameters for tests. */
export function reservedRange(files = { subuid: "/etc/subuid", subgid: "/etc/subgid" }): IdRange | IdRangeProblem {
  const uid = ownerRange(files.subuid);
  const gid = ownerRange(files.subgid);
  if (!uid || !gid) {
    return { ok: false, reason: `no subordinate id range for user \`${RANGE_OWNER}\` in ${!uid ? files.subuid : files.subgid}: ${SETUP_HINT}` };
  }
  return { uidStart: uid.start, gidStart: gid.start, blocks: Math.floor(Math.min(uid.count, gid.count) / BLOCK_SIZE) };
}

export function isRangeProblem(r: IdRange | IdRangeProblem): r is IdRangeProblem {
  return "ok" in r;
}

export function blockAt(range: IdRange, index: number): IdBlock {
  return { index, uidBase: range.uidStart + index * BLOCK_SIZE, gidBase: range.gidStart + index * BLOCK_SIZE };
}

interface LockContent {
  readonly sandbox: string;
  readonly owner: ProcessIdentity;
  /** The state directory holding the sandbox's record (its store). */
  readonly records: string;
}

/** Where every block's lock lives: tmpfs, so a reboot (which ends every sandbox) frees them all. */
export const ID_LOCK_DIR = "/run/ironclaw/idblocks";

/** The lock dir, made owner-only by root, refused if anyone else could have made or changed it. */
export function ensureIdLockDir(dir = ID_LOCK_DIR): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || st.uid !== uid || st.mode & 0o077) {
    throw new SandboxError("EBACKEND", `${dir} must be a directory of your own that only you can use: remove it`);
  }
  return dir;
}

const recorded = (lock: LockContent) => existsSync(join(lock.records, `${lock.sandbox}.json`));

const lockName = (index: number) => `idblock-${index}.lock`;

function readLock(path: string): LockContent | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as LockContent;
  } catch {
    return null;
  }
}

/**
 * Takes a free block for `sandbox`, whose record lives in the state directory `records`. A lock
 * is stale when the sandbox it names has no record there and its owner process is gone: a crash
 * between taking it and writing the record.
 */
export function acquireIdBlock(dir: string, range: IdRange, sandbox: string, owner: ProcessIdentity, records: string): IdBlock {
  const content = JSON.stringify({ sandbox, owner, records } satisfies LockContent);
  for (let attempt = 0; attempt < 2; attempt++) {
    for (let index = 0; index < range.blocks; index++) {
      const path = join(dir, lockName(index));
      let fd: number;
      try {
        fd = openSync(path, "wx", 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        // Freed, then taken again by this call: a second pass over the same index.
        if (attempt === 1 && freeIfStale(path)) index--;
        continue;
      }
      try {
        writeSync(fd, content);
      } finally {
        closeSync(fd);
      }
      return blockAt(range, index);
    }
  }
  throw new IdBlockError(`all ${range.blocks} sandbox id blocks are in use: end some sandboxes, or give user \`${RANGE_OWNER}\` a larger range in /etc/subuid and /etc/subgid`);
}

/**
 * Removes a stale lock without racing another process that freed it and a third that took the
 * block again meanwhile: the lock is first moved aside under a name of our own (atomic), and
 * only what was moved is judged; a live lock moved by mistake is put back.
 */
function freeIfStale(path: string): boolean {
  const held = readLock(path);
  if (!held || recorded(held) || isAlive(held.owner)) return false;
  const aside = `${path}.${process.pid}.${Date.now()}.stale`;
  try {
    renameSync(path, aside);
  } catch {
    return false; // someone else moved or freed it first
  }
  const moved = readLock(aside);
  if (moved && (recorded(moved) || isAlive(moved.owner))) {
    // Taken again between our read and the move: give it back (exclusively: never over a newer lock).
    try {
      linkSync(aside, path);
    } catch {
      // the block was taken a third time meanwhile: the newer lock stands, this one is stale
    }
    rmSync(aside, { force: true });
    return false;
  }
  rmSync(aside, { force: true });
  return true;
}

/** Frees the block if `sandbox` still holds it. Idempotent. */
export function releaseIdBlock(dir: string, block: IdBlock, sandbox: string): void {
  const path = join(dir, lockName(block.index));
  if (readLock(path)?.sandbox === sandbox) rmSync(path, { force: true });
}

/** Blocks whose lock names a sandbox: for the leak check and doctor. */
export function heldIdBlocks(dir: string): number[] {
  return readdirSync(dir)
    .map((name) => /^idblock-(\d+)\.lock$/.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
}

/** Whether sandboxes need ids of their own: this process is root, and a sandbox tool would lend them root's. */
export const runsAsRoot = () => process.getuid?.() === 0;

/** IronClaw as root: the reserved range sandboxes take their ids from, or a clear refusal. */
export function idRangeForRoot(backend: string): IdRange | undefined {
  if (!runsAsRoot()) return undefined;
  const range = reservedRange();
  if (isRangeProblem(range)) throw new SandboxError("EBACKEND", `the ${backend} backend will not run sandboxes as host root: ${range.reason}`);
  return range;
}
