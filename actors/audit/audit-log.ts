// The audit log: every decision on an agent's action — run at once, approved, denied, expired —
// one JSON line each, in a hash chain. Each record carries the hash of the one before it (`prev`)
// and its own (`hash`, SHA-256 over the canonical JSON of the record without `hash` and `mac`),
// so a record edited, dropped, inserted or moved breaks the chain where it happened, and
// `ironclaw audit verify` names the line (docs/approvals.md).
//
// A chain alone cannot tell a shortened history from a short one, and anyone can recompute it.
// So two things are kept outside the log, in the user's config dir (not the state dir the log
// is in): a random key (`audit.key`, 0600) whose HMAC of each record's hash is the record's
// `mac` — re-chaining needs the key — and, after every append, the chain's head (`audit-heads/`,
// one file per log path: record count, last hash, MAC'd too), so records cut from the end, an
// emptied or deleted log, or a replaced one no longer verify. `hash` stays unkeyed so a log can
// still be checked as a chain where the key is not (another machine). Records written before
// the key existed carry no `mac`; they may only open the log.
//
// Two processes may append (the daemon and a CLI run): each append takes an exclusive lock file
// (`<log>.lock`, created with O_EXCL, naming the writer by pid and start time), reads the last record and the
// head under it, appends the new line with one write to a file opened O_APPEND, fsyncs, then
// saves the head (temp file, fsync, rename) and releases. The log is durable before its head,
// so a crash between the two leaves the log one record past its head, never behind it. The lock
// is held for short synchronous writes; one left by a process that died holding it is broken
// once that process is gone (a pid since reused by another process does not keep it).
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import {
  closeSync,
  constants,
  fdatasyncSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Result, Schema } from "effect";
import { canonicalJson } from "../../core/canonical-json.ts";
import { sha256Hex } from "../../core/hash.ts";
import { configDir, stateDir } from "../../core/paths.ts";
import { schemaProblem } from "../../core/schema-problem.ts";
import { ensurePrivateDir } from "../sandbox/private-dir.ts";
import { AuditLogError } from "../../core/errors.ts";
import { AUDIT_BY, AUDIT_DECISIONS, type AuditBy, type AuditDecision, type AuditEntry } from "../../core/audit-record.ts";
import { tryLock } from "./lock-file.ts";

export type { AuditBy, AuditDecision, AuditEntry } from "../../core/audit-record.ts";

export interface AuditRecord extends AuditEntry {
  readonly seq: number;
  readonly at: string;
  readonly decision: AuditDecision;
  /** Records from before "session" existed say "user" for a cancellation by the session; they still verify. */
  readonly by: AuditBy;
  readonly prev: string;
  readonly hash: string;
  /** HMAC-SHA256 of `hash` under the user's audit key; absent only on records written before the key existed. */
  readonly mac?: string;
}

/** `prev` of the first record. */
export const GENESIS = "0".repeat(64);
const KEY_BYTES = 32;

export function auditLogPath(): string {
  return join(stateDir(), "audit.jsonl");
}

/** Where the key and the heads are kept: the user's config dir ($XDG_CONFIG_HOME/ironclaw). */
export function auditAnchorDir(env: NodeJS.ProcessEnv = process.env): string {
  return configDir(env);
}

export const auditKeyPath = (anchorDir: string) => join(anchorDir, "audit.key");

/** The saved head of one log, by its absolute path. */
export const auditHeadPath = (log: string, anchorDir: string) => join(anchorDir, "audit-heads", `${sha256Hex(resolve(log)).slice(0, 32)}.json`);

/** A record's own hash: over everything but `hash` and `mac`, as it reads back from its JSON line. */
export function recordHash(record: Omit<AuditRecord, "hash"> | Record<string, unknown>): string {
  const { hash: _, mac: __, ...body } = record as Record<string, unknown>;
  return sha256Hex(canonicalJson(body));
}

const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest("hex");
export const macMatches = (key: Buffer, text: string, mac: string) => timingSafeEqual(Buffer.from(hmac(key, text)), Buffer.from(mac));

// ── the key ───────────────────────────────────────────────────────────────────────────────

/** The user's audit key, or null when there is none yet; a file that is not one is an error naming it. */
export function readAuditKey(anchorDir: string): Buffer | null {
  const file = auditKeyPath(anchorDir);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ELOOP") throw new AuditLogError("key", `${file} is a symbolic link, not the audit key: remove it`);
    throw err;
  }
  try {
    const stat = fstatSync(fd);
    const uid = process.getuid?.();
    if (!stat.isFile()) throw new AuditLogError("key", `${file} is not a file: remove it`);
    if (uid !== undefined && stat.uid !== uid) throw new AuditLogError("key", `${file} belongs to uid ${stat.uid}, not to you (uid ${uid}): it is not your audit key`);
    // Whoever can read the key can forge records, whoever can write it can swap it.
    if (stat.mode & 0o077) throw new AuditLogError("key", `${file} is open to other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}): run chmod 600 ${file}`);
    if (stat.size !== KEY_BYTES) {
      throw new AuditLogError(
        "key",
        `${file} holds ${stat.size} bytes, not ${KEY_BYTES}: it is not an audit key; restore it from a backup (or move it aside: records signed with it will then not verify)`,
      );
    }
    const key = Buffer.alloc(KEY_BYTES);
    readSync(fd, key, 0, KEY_BYTES, 0);
    return key;
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to a fresh file (O_EXCL, no symlink followed), fsynced. */
function writeNew(file: string, data: Buffer): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    let written = 0;
    while (written < data.length) written += writeSync(fd, data, written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const tempName = (file: string) => `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;

/** The key, made on first use: written whole under a temporary name, then linked into place (fails if another writer got there first). */
function ensureAuditKey(anchorDir: string): Buffer {
  const existing = readAuditKey(anchorDir);
  if (existing) return existing;
  mkdirSync(anchorDir, { recursive: true, mode: 0o700 });
  const file = auditKeyPath(anchorDir);
  const tmp = tempName(file);
  writeNew(tmp, randomBytes(KEY_BYTES));
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err; // made meanwhile: use that one
  } finally {
    unlinkSync(tmp);
  }
  fsyncDir(anchorDir);
  return readAuditKey(anchorDir)!;
}

// ── the head ──────────────────────────────────────────────────────────────────────────────

const Hex64 = Schema.String.check(Schema.makeFilter((s: string) => /^[0-9a-f]{64}$/.test(s) || "must be 64 lowercase hex digits"));

/** The chain's head as last saved: the log's path, its record count, the last hash, how many records at its start carry no mac. */
export interface SavedHead {
  readonly file: string;
  readonly records: number;
  readonly hash: string;
  readonly unkeyed: number;
  readonly at: string;
  readonly mac: string;
}
const HeadSchema = Schema.Struct({
  file: Schema.String,
  records: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  hash: Hex64,
  unkeyed: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  at: Schema.String,
  mac: Hex64,
});
const decodeHead = Schema.decodeUnknownResult(HeadSchema as never, { onExcessProperty: "error" } as never) as (u: unknown) => Result.Result<SavedHead, Error>;
/** What a head's mac is over: every field but the mac. */
const headText = (head: Omit<SavedHead, "mac">) => canonicalJson({ file: head.file, records: head.records, hash: head.hash, unkeyed: head.unkeyed, at: head.at });

/** The log's saved head (its mac checked when there is a key), null when none is saved, or what is wrong with it. */
export function readSavedHead(log: string, anchorDir: string, key: Buffer | null): SavedHead | null | { problem: string } {
  const file = auditHeadPath(log, anchorDir);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { problem: `the log's saved head (${file}) is not valid JSON: it was edited or cut short` };
  }
  const result = decodeHead(json);
  if (Result.isFailure(result)) return { problem: `the log's saved head (${file}) is not a saved head: it was edited` };
  const head = result.success;
  if (head.file !== resolve(log)) return { problem: `the log's saved head (${file}) is the head of ${head.file}: it was copied there` };
  if (key && !macMatches(key, headText(head), head.mac)) {
    return { problem: `the log's saved head (${file}) does not match its mac: it was edited, or saved with another key` };
  }
  return head;
}

/** Replaces the saved head atomically: a reader sees the old head or the new one, whole. */
function saveHead(anchorDir: string, head: Omit<SavedHead, "mac">, key: Buffer): void {
  const file = auditHeadPath(head.file, anchorDir);
  // Another user able to write here could put back an old head (MAC'd, so valid): ours alone.
  ensurePrivateDir(dirname(file), "set XDG_CONFIG_HOME to a directory of your own");
  const tmp = tempName(file);
  writeNew(tmp, Buffer.from(`${JSON.stringify({ ...head, mac: hmac(key, headText(head)) })}\n`));
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  fsyncDir(dirname(file));
}

// ── appending ─────────────────────────────────────────────────────────────────────────────

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

/** Runs `fn` holding `<file>.lock` (lock-file.ts); waits (synchronously: appends are short) up to `waitMs`. */
function withLock<T>(file: string, waitMs: number, fn: () => T): T {
  const path = `${file}.lock`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const taken = tryLock(path);
    if ("lock" in taken) {
      try {
        return fn();
      } finally {
        taken.lock.release();
      }
    }
    if (Date.now() > deadline) throw new AuditLogError("locked", `${path} is held by another process (pid ${taken.heldBy?.pid ?? "unknown"}); if none is running, remove it`);
    sleep(5);
  }
}

/** The last line of the file (without its newline), and whether the file ends with a newline. */
function lastLine(fd: number): { line: string | null; complete: boolean } {
  const size = fstatSync(fd).size;
  if (size === 0) return { line: null, complete: true };
  const chunk = 64 * 1024;
  let end = size;
  let tail = Buffer.alloc(0);
  for (;;) {
    const start = Math.max(0, end - chunk);
    const buf = Buffer.alloc(end - start);
    readSync(fd, buf, 0, buf.length, start);
    tail = Buffer.concat([buf, tail]);
    end = start;
    const body = tail[tail.length - 1] === 0x0a ? tail.subarray(0, -1) : tail;
    const nl = body.lastIndexOf(0x0a);
    if (nl >= 0 || start === 0) return { line: body.subarray(nl + 1).toString("utf8"), complete: tail[tail.length - 1] === 0x0a };
  }
}

/** How many records at the start of the log carry no mac (read only when no saved head says). */
function countUnkeyed(file: string): number {
  let n = 0;
  for (const { text } of lines(file)) {
    const record = parseRecord(text);
    if (typeof record === "string" || record.mac !== undefined) break;
    n++;
  }
  return n;
}

export class AuditLog {
  readonly file: string;
  private readonly now: () => Date;
  private readonly anchorDir: string;

  constructor(file: string, options: { now?: () => Date; anchorDir?: string } = {}) {
    this.file = file;
    this.now = options.now ?? (() => new Date());
    this.anchorDir = options.anchorDir ?? auditAnchorDir();
  }

  /**
   * Appends one record after the last one in the file, whoever wrote that, then saves the new
   * head; returns the record as written. Anything that stops it is an AuditLogError (code EAUDIT).
   */
  append(entry: AuditEntry): AuditRecord {
    try {
      ensurePrivateDir(dirname(this.file), "set IRONCLAW_STATE_DIR to a directory of your own");
      return withLock(this.file, 10_000, () => this.appendLocked(entry));
    } catch (err) {
      throw err instanceof AuditLogError ? err : new AuditLogError("io", (err as Error).message);
    }
  }

  private appendLocked(entry: AuditEntry): AuditRecord {
    const key = ensureAuditKey(this.anchorDir);
    const fd = openSync(this.file, "a+", 0o600);
    try {
      // Ours, but perhaps created under a loose umask or by hand: the log says what the agent did.
      if (fstatSync(fd).mode & 0o077) fchmodSync(fd, 0o600);
      const { line, complete } = lastLine(fd);
      let last: AuditRecord | null = null;
      if (line !== null) {
        const parsed = parseRecord(line);
        // Chaining onto a broken tail would hide where it broke: refuse, and say how to look.
        if (!complete || typeof parsed === "string") {
          throw new AuditLogError(
            "log",
            `${this.file}: the last record is ${complete ? `unreadable (${parsed})` : "cut short"}; run \`ironclaw audit verify\` and move the file aside to start a new log`,
          );
        }
        last = parsed;
      }
      const saved = readSavedHead(this.file, this.anchorDir, key);
      if (saved && "problem" in saved) throw new AuditLogError("head", `${saved.problem}; run \`ironclaw audit verify\``);
      // A head past the log, or naming another record where the log ends: records were removed or the
      // log replaced. Appending would save a new head over that evidence.
      const count = last?.seq ?? 0;
      if (saved && (saved.records > count || (saved.records === count && saved.hash !== last?.hash))) {
        throw new AuditLogError(
          "log",
          `${this.file} ends at record ${count} but its head (${auditHeadPath(this.file, this.anchorDir)}) says ${saved.records}${saved.records === count ? " with another hash" : ""}: run \`ironclaw audit verify\`; to start a new log, move both files aside`,
        );
      }
      const unhashed = {
        seq: count + 1,
        at: this.now().toISOString(),
        session: entry.session,
        decision: entry.decision,
        by: entry.by,
        reason: entry.reason,
        actionHash: entry.actionHash,
        action: entry.action,
        prev: last?.hash ?? GENESIS,
      };
      // Hash what will be read back (JSON drops undefined, turns NaN into null …), not the object in hand.
      const body = JSON.parse(JSON.stringify(unhashed)) as Omit<AuditRecord, "hash">;
      const hash = recordHash(body);
      const record: AuditRecord = { ...body, hash, mac: hmac(key, hash) };
      const data = Buffer.from(`${JSON.stringify(record)}\n`);
      let written = 0;
      while (written < data.length) written += writeSync(fd, data, written);
      fdatasyncSync(fd);
      // Once a keyed record is in, the unkeyed records at the start are fixed: a saved head knows how many.
      const unkeyed = last === null ? 0 : last.mac === undefined ? last.seq : saved ? saved.unkeyed : countUnkeyed(this.file);
      saveHead(this.anchorDir, { file: resolve(this.file), records: record.seq, hash, unkeyed, at: record.at }, key);
      return record;
    } finally {
      closeSync(fd);
    }
  }
}

// ── verification ─────────────────────────────────────────────────────────────────────────

const RecordSchema = Schema.Struct({
  seq: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  at: Schema.String,
  session: Schema.String,
  action: Schema.Unknown,
  actionHash: Schema.String,
  decision: Schema.Literals(AUDIT_DECISIONS),
  by: Schema.Literals(AUDIT_BY),
  reason: Schema.String,
  prev: Hex64,
  hash: Hex64,
  mac: Schema.optional(Hex64),
});
const decodeRecord = Schema.decodeUnknownResult(RecordSchema as never, { onExcessProperty: "error" } as never) as (u: unknown) => Result.Result<AuditRecord, Error>;

/** The record on a line, or what is wrong with it. */
export function parseRecord(line: string): AuditRecord | string {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return "not valid JSON (the line was cut short or edited)";
  }
  const result = decodeRecord(json);
  if (Result.isSuccess(result)) return result.success;
  const { path: key, problem } = schemaProblem(result.failure);
  return `not an audit record (${key ? `${key}: ` : ""}${problem})`;
}

/** Reads the file line by line (synchronously, in 1 MiB chunks) without holding it all in memory. */
export function* lines(file: string): Generator<{ text: string; terminated: boolean }> {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    let carry = Buffer.alloc(0);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      let chunk = Buffer.concat([carry, buf.subarray(0, n)]);
      let nl: number;
      while ((nl = chunk.indexOf(0x0a)) >= 0) {
        yield { text: chunk.subarray(0, nl).toString("utf8"), terminated: true };
        chunk = chunk.subarray(nl + 1);
      }
      carry = Buffer.from(chunk);
    }
    if (carry.length > 0) yield { text: carry.toString("utf8"), terminated: false };
  } finally {
    closeSync(fd);
  }
}
