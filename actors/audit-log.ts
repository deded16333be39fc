// The audit log: every decision on an agent's action — run at once, approved, denied, expired —
// one JSON line each, in a hash chain. Each record carries the hash of the one before it (`prev`)
// and its own (`hash`, SHA-256 over the canonical JSON of the record without `hash`), so a record
// edited, dropped, inserted or moved breaks the chain where it happened, and
// `ironclaw audit verify` names the line (docs/approvals.md).
//
// Two processes may append (the daemon and a CLI run): each append takes an exclusive lock file
// (`<log>.lock`, created with O_EXCL, holding the writer's pid), reads the last record under
// it, and appends the new line with one write to a file opened O_APPEND, then fsyncs and
// releases. The lock is held for one short synchronous write; one left by a process that died
// holding it is broken once that pid is gone.
import { closeSync, existsSync, fdatasyncSync, fchmodSync, fstatSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { Result, Schema } from "effect";
import { canonicalJson, sha256Hex } from "../src/diff-card.ts";
import { stateDir } from "../src/paths.ts";
import { ensurePrivateDir } from "./private-dir.ts";

export type AuditDecision = "green" | "approved" | "denied" | "denied-by-rule" | "expired" | "cancelled";
export type AuditBy = "policy" | "user" | "timeout" | "non-interactive";

export interface AuditRecord {
  readonly seq: number;
  readonly at: string;
  readonly session: string;
  readonly action: unknown;
  readonly actionHash: string;
  readonly decision: AuditDecision;
  readonly by: AuditBy;
  readonly reason: string;
  readonly prev: string;
  readonly hash: string;
}

/** `prev` of the first record. */
export const GENESIS = "0".repeat(64);

export function auditLogPath(): string {
  return join(stateDir(), "audit.jsonl");
}

export class AuditLogError extends Error {
  override name = "AuditLogError";
}

/** A record's own hash: over everything but `hash`, as it reads back from its JSON line. */
export function recordHash(record: Omit<AuditRecord, "hash"> | Record<string, unknown>): string {
  const { hash: _, ...body } = record as Record<string, unknown>;
  return sha256Hex(canonicalJson(body));
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Runs `fn` holding `<file>.lock`; waits (synchronously: appends are short) up to `waitMs`. */
function withLock<T>(file: string, waitMs: number, fn: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + waitMs;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = openSync(lock, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (staleLock(lock)) {
        try {
          unlinkSync(lock);
        } catch {
          // Another waiter broke it first.
        }
        continue;
      }
      if (Date.now() > deadline) throw new AuditLogError(`${lock} is held by another process (pid ${readPid(lock) ?? "unknown"}); if none is running, remove it`);
      sleep(5);
    }
  }
  try {
    writeSync(fd, String(process.pid));
    return fn();
  } finally {
    closeSync(fd);
    unlinkSync(lock);
  }
}

function readPid(lock: string): number | null {
  try {
    const pid = Number(readFileSync(lock, "utf8"));
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** A lock whose pid is gone, or one that never got a pid written and is older than 10 s. */
function staleLock(lock: string): boolean {
  const pid = readPid(lock);
  if (pid !== null) return !alive(pid);
  try {
    return Date.now() - statSync(lock).mtimeMs > 10_000;
  } catch {
    return false; // gone already: the next open will tell
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

export class AuditLog {
  readonly file: string;
  private readonly now: () => Date;

  constructor(file: string, options: { now?: () => Date } = {}) {
    this.file = file;
    this.now = options.now ?? (() => new Date());
  }

  /** Appends one record after the last one in the file, whoever wrote that; returns it as written. */
  append(entry: Omit<AuditRecord, "seq" | "at" | "prev" | "hash">): AuditRecord {
    ensurePrivateDir(dirname(this.file), "set IRONCLAW_STATE_DIR to a directory of your own");
    return withLock(this.file, 10_000, () => {
      const fd = openSync(this.file, "a+", 0o600);
      try {
        // Ours, but perhaps created under a loose umask or by hand: the log says what the agent did.
        if (fstatSync(fd).mode & 0o077) fchmodSync(fd, 0o600);
        const { line, complete } = lastLine(fd);
        let seq = 1;
        let prev = GENESIS;
        if (line !== null) {
          const last = parseRecord(line);
          // Chaining onto a broken tail would hide where it broke: refuse, and say how to look.
          if (!complete || typeof last === "string") {
            throw new AuditLogError(`${this.file}: the last record is ${complete ? `unreadable (${last})` : "cut short"}; run \`ironclaw audit verify\` and move the file aside to start a new log`);
          }
          seq = last.seq + 1;
          prev = last.hash;
        }
        const unhashed = {
          seq,
          at: this.now().toISOString(),
          session: entry.session,
          decision: entry.decision,
          by: entry.by,
          reason: entry.reason,
          actionHash: entry.actionHash,
          action: entry.action,
          prev,
        };
        // Hash what will be read back (JSON drops undefined, turns NaN into null …), not the object in hand.
        const body = JSON.parse(JSON.stringify(unhashed)) as Omit<AuditRecord, "hash">;
        const record: AuditRecord = { ...body, hash: recordHash(body) };
        const data = Buffer.from(`${JSON.stringify(record)}\n`);
        let written = 0;
        while (written < data.length) written += writeSync(fd, data, written);
        fdatasyncSync(fd);
        return record;
      } finally {
        closeSync(fd);
      }
    });
  }
}

// ── verification ─────────────────────────────────────────────────────────────────────────

const Hex64 = Schema.String.check(Schema.makeFilter((s: string) => /^[0-9a-f]{64}$/.test(s) || "must be 64 lowercase hex digits"));
const RecordSchema = Schema.Struct({
  seq: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  at: Schema.String,
  session: Schema.String,
  action: Schema.Unknown,
  actionHash: Schema.String,
  decision: Schema.Literals(["green", "approved", "denied", "denied-by-rule", "expired", "cancelled"]),
  by: Schema.Literals(["policy", "user", "timeout", "non-interactive"]),
  reason: Schema.String,
  prev: Hex64,
  hash: Hex64,
});
const decodeRecord = Schema.decodeUnknownResult(RecordSchema as never, { onExcessProperty: "error" } as never) as (u: unknown) => Result.Result<AuditRecord, Error>;

/** The record on a line, or what is wrong with it. */
function parseRecord(line: string): AuditRecord | string {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return "not valid JSON (the line was cut short or edited)";
  }
  const result = decodeRecord(json);
  if (Result.isSuccess(result)) return result.success;
  const [problem, at = ""] = result.failure.message.split("\n");
  const key = [...at.matchAll(/\["([^"]+)"\]/g)].map((m) => m[1]).join(".");
  return `not an audit record (${key ? `${key}: ` : ""}${problem!.trim().replace(/ \| undefined$/, "")})`;
}

export type AuditVerification = { ok: true; records: number; head: string } | { ok: false; records: number; line: number; problem: string };

/** Reads the file line by line (synchronously, in 1 MiB chunks) without holding it all in memory. */
function* lines(file: string): Generator<{ text: string; terminated: boolean }> {
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

/**
 * Checks every record's own hash, that it follows the one before it (`prev`, `seq`), and that
 * the file ends with a whole line. `records` counts the records verified before a problem.
 * Without an anchor kept elsewhere, records cut from the end cannot be told from a shorter log:
 * `head` (the last hash) is what to keep to tell later.
 */
export function verifyAuditLog(file: string): AuditVerification {
  if (!existsSync(file)) return { ok: true, records: 0, head: GENESIS };
  let records = 0;
  let prev = GENESIS;
  let line = 0;
  for (const { text, terminated } of lines(file)) {
    line++;
    const broken = (problem: string) => ({ ok: false as const, records, line, problem });
    if (!terminated) return broken("the last line is cut short (no newline at its end): the file was truncated or a write was interrupted");
    if (text.trim() === "") return broken("an empty line where a record should be");
    const record = parseRecord(text);
    if (typeof record === "string") return broken(record);
    if (recordHash(record) !== record.hash) return broken("the record does not match its hash: it was edited");
    if (record.prev !== prev) {
      return broken(
        line === 1
          ? "the first record does not start the chain (prev is not the genesis value): records before it were removed"
          : `the record does not follow line ${line - 1} (prev is not that record's hash): a record was dropped, inserted or moved here`,
      );
    }
    if (record.seq !== records + 1) return broken(`seq is ${record.seq}, expected ${records + 1}`);
    prev = record.hash;
    records++;
  }
  return { ok: true, records, head: prev };
}
