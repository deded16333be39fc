// The audit log's hash chain: records appended by one or several processes verify, and every
// way of tampering with the file (edit, drop, reorder, insert, truncate) is found, at its line.
// Its key and saved head, kept outside the log: records cut from the end, an emptied or deleted
// log, and a re-chained one are found too; legitimate growth past the head and a log from
// before the key still verify; a key file open to others is refused.
import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditLog, auditAnchorDir, auditHeadPath, auditKeyPath, auditLogPath, GENESIS, recordHash, type AuditEntry, type AuditRecord } from "../../actors/audit/audit-log.ts";
import { verifyAuditLog } from "../../actors/audit/audit-verify.ts";
import { canonicalJson } from "../../core/canonical-json.ts";
import { sha256Hex } from "../../core/hash.ts";

let dir: string;
let file: string;
/** This test's config dir: the key and the heads. */
let anchorDir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ironclaw-audit-"));
  file = join(dir, "logs", "audit.jsonl");
  anchorDir = join(dir, "config", "ironclaw");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const newLog = (options: { now?: () => Date } = {}) => new AuditLog(file, { anchorDir, ...options });
const verify = (f = file, options: { anchorDir?: string } = {}) => verifyAuditLog(f, { anchorDir, ...options });

const entry = (n: number): AuditEntry => ({
  session: "s1",
  action: { tool: "apply", args: { paths: [`f${n}.txt`] } },
  actionHash: sha256Hex(`action ${n}`),
  decision: n % 2 ? "approved" : "green",
  by: n % 2 ? "user" : "policy",
  reason: `reason ${n}`,
});

function writeFive(): string[] {
  const log = newLog();
  for (let n = 1; n <= 5; n++) log.append(entry(n));
  return readFileSync(file, "utf8").trimEnd().split("\n");
}
const save = (lines: string[]) => writeFileSync(file, `${lines.join("\n")}\n`);

describe("AuditLog.append", () => {
  it("chains records: seq from 1, prev the previous hash (genesis first), hash over the rest", () => {
    const log = newLog({ now: () => new Date("2026-01-02T03:04:05.000Z") });
    const first = log.append(entry(1));
    const second = log.append(entry(2));
    expect(first).toMatchObject({ seq: 1, at: "2026-01-02T03:04:05.000Z", prev: GENESIS, ...entry(1) });
    expect(second).toMatchObject({ seq: 2, prev: first.hash });
    const { hash, mac, ...body } = first;
    expect(hash).toBe(sha256Hex(canonicalJson(body)));
    expect(recordHash(first)).toBe(hash);
    expect(mac).toBe(
      createHmac("sha256", readFileSync(auditKeyPath(anchorDir)))
        .update(hash)
        .digest("hex"),
    );
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[0]!)).toEqual(first);
    expect(verify()).toEqual({ ok: true, records: 2, head: second.hash, unkeyed: 0, macs: "verified", saved: { file: auditHeadPath(file, anchorDir), records: 2 }, notes: [] });
  });

  it("says who cancelled a request: the session (its end), beside the user's cancellations of records written before that existed", () => {
    const log = newLog();
    // A record from before `by: "session"` existed: the session's cancellation was labelled the user's.
    log.append({ ...entry(1), decision: "cancelled", by: "user", reason: "Ctrl-C" });
    const now = log.append({ ...entry(2), decision: "cancelled", by: "session", reason: "Ctrl-C" });
    expect(now).toMatchObject({ decision: "cancelled", by: "session" });
    expect(verify()).toMatchObject({ ok: true, records: 2, macs: "verified" });
    // And the vocabulary stays closed: anything else is not an audit record.
    save([readFileSync(file, "utf8").trimEnd().split("\n")[0]!.replace('"by":"user"', '"by":"owner"')]);
    expect(verify()).toMatchObject({ ok: false });
  });

  it("continues the chain of a log another AuditLog (or process) wrote", () => {
    newLog().append(entry(1));
    const next = newLog().append(entry(2));
    expect(next.seq).toBe(2);
    expect(verify()).toMatchObject({ ok: true, records: 2 });
  });

  it("hashes the record as it reads back from JSON", () => {
    const record = newLog().append({ ...entry(1), action: { n: NaN, gone: undefined, when: new Date(0) } });
    expect(record.action).toEqual({ n: null, when: "1970-01-01T00:00:00.000Z" });
    expect(verify().ok).toBe(true);
  });

  it("keeps the file 0600 in a 0700 directory, and the key (32 bytes) and the head 0600 in the config dir", () => {
    newLog().append(entry(1));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "logs")).mode & 0o777).toBe(0o700);
    expect(existsSync(`${file}.lock`)).toBe(false);
    expect(statSync(auditKeyPath(anchorDir)).mode & 0o777).toBe(0o600);
    expect(statSync(auditKeyPath(anchorDir)).size).toBe(32);
    expect(statSync(auditHeadPath(file, anchorDir)).mode & 0o777).toBe(0o600);
    expect(statSync(join(anchorDir, "audit-heads")).mode & 0o777).toBe(0o700);
  });

  it("refuses to chain onto a last line that was cut short", () => {
    const lines = writeFive();
    writeFileSync(file, `${lines.join("\n")}\n${lines[0]!.slice(0, 30)}`);
    expect(() => newLog().append(entry(6))).toThrow(/the last record is cut short; run `ironclaw audit verify`/);
  });

  it("breaks a lock left by a process that died holding it", () => {
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    newLog().append(entry(1));
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: Number(dead), start: "1" }));
    expect(newLog().append(entry(2)).seq).toBe(2);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it("keeps one chain when two processes append at once", async () => {
    const script = `
      import { AuditLog } from ${JSON.stringify(join(import.meta.dirname, "..", "..", "actors", "audit", "audit-log.ts"))};
      const log = new AuditLog(process.argv[1], { anchorDir: process.argv[3] });
      for (let i = 0; i < 200; i++) log.append({ session: process.argv[2], action: { i }, actionHash: "h", decision: "green", by: "policy", reason: "r" });
    `;
    const { spawn } = await import("node:child_process");
    const run = (session: string) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", script, file, session, anchorDir], { stdio: ["ignore", "ignore", "inherit"] });
        child.on("close", resolve);
      });
    expect(await Promise.all([run("a"), run("b")])).toEqual([0, 0]);
    expect(verify()).toMatchObject({ ok: true, records: 400, macs: "verified", saved: { records: 400 } });
  });
});

describe("verifyAuditLog", () => {
  it("accepts an absent or empty log that has no head", () => {
    const none = { ok: true, records: 0, head: GENESIS, unkeyed: 0, macs: "none", saved: null, notes: [] };
    expect(verify(join(dir, "none.jsonl"))).toEqual(none);
    writeFileSync(file.replace("logs/", ""), "");
    expect(verify(file.replace("logs/", ""))).toEqual(none);
  });

  it("finds an edited record", () => {
    const lines = writeFive();
    save(lines.map((l, i) => (i === 2 ? l.replace('"reason 3"', '"reason three"') : l)));
    expect(verify()).toEqual({ ok: false, records: 2, line: 3, problem: "the record does not match its hash: it was edited" });
  });

  it("finds an edited record whose hash was recomputed: by its mac, or without the key at the record after it", () => {
    const lines = writeFive();
    const forged = { ...(JSON.parse(lines[2]!) as AuditRecord), decision: "approved" as const, reason: "forged" };
    save(lines.map((l, i) => (i === 2 ? JSON.stringify({ ...forged, hash: recordHash(forged) }) : l)));
    expect(verify()).toMatchObject({
      ok: false,
      records: 2,
      line: 3,
      problem: `the record's mac does not match the key (${auditKeyPath(anchorDir)}): the log was re-chained or written without that key`,
    });
    expect(verify(file, { anchorDir: join(dir, "elsewhere") })).toMatchObject({ ok: false, line: 4, problem: expect.stringContaining("does not follow line 3") });
  });

  it("finds a dropped record", () => {
    const lines = writeFive();
    save(lines.filter((_, i) => i !== 1));
    expect(verify()).toEqual({
      ok: false,
      records: 1,
      line: 2,
      problem: "the record does not follow line 1 (prev is not that record's hash): a record was dropped, inserted or moved here",
    });
    save(lines.slice(1));
    expect(verify()).toMatchObject({ ok: false, records: 0, line: 1, problem: expect.stringContaining("records before it were removed") });
  });

  it("finds reordered records", () => {
    const lines = writeFive();
    save([lines[0]!, lines[2]!, lines[1]!, lines[3]!, lines[4]!]);
    expect(verify()).toMatchObject({ ok: false, records: 1, line: 2, problem: expect.stringContaining("does not follow line 1") });
  });

  it("finds an inserted record, even a copy of a real one", () => {
    const lines = writeFive();
    save([...lines.slice(0, 3), lines[1]!, ...lines.slice(3)]);
    expect(verify()).toMatchObject({ ok: false, records: 3, line: 4 });
    const invented = { seq: 4, at: "2026-01-01T00:00:00.000Z", ...entry(9), prev: sha256Hex("x"), hash: "" };
    save([...lines.slice(0, 3), JSON.stringify({ ...invented, hash: recordHash(invented) }), ...lines.slice(3)]);
    expect(verify()).toMatchObject({ ok: false, line: 4, problem: expect.stringContaining("does not follow line 3") });
  });

  it("finds a truncated last line, and a last line missing only its newline", () => {
    const lines = writeFive();
    writeFileSync(file, `${lines.slice(0, 4).join("\n")}\n${lines[4]!.slice(0, 50)}`);
    expect(verify()).toMatchObject({ ok: false, records: 4, line: 5, problem: expect.stringContaining("cut short") });
    writeFileSync(file, lines.join("\n"));
    expect(verify()).toMatchObject({ ok: false, records: 4, line: 5 });
  });

  it("names lines that are not records", () => {
    const lines = writeFive();
    save([...lines.slice(0, 2), "", ...lines.slice(2)]);
    expect(verify()).toMatchObject({ ok: false, line: 3, problem: "an empty line where a record should be" });
    save([lines[0]!, "{not json", ...lines.slice(1)]);
    expect(verify()).toMatchObject({ ok: false, line: 2, problem: "not valid JSON (the line was cut short or edited)" });
    save([JSON.stringify({ ...JSON.parse(lines[0]!), decision: "maybe" })]);
    expect(verify()).toMatchObject({ ok: false, line: 1, problem: expect.stringMatching(/^not an audit record \(decision: Expected "green" \| /) });
  });

  it("lives under the state directory", () => {
    expect(auditLogPath()).toBe(join(process.env.IRONCLAW_STATE_DIR!, "audit.jsonl"));
  });
});

describe("the saved head and the key", () => {
  const headFile = () => auditHeadPath(file, anchorDir);

  it("finds the last record removed, at the line where the log now ends", () => {
    const lines = writeFive();
    save(lines.slice(0, 4));
    expect(verify()).toEqual({
      ok: false,
      records: 4,
      line: 5,
      problem: "the log ends at record 4 but its head says 5 records: records were removed from the end, or the file replaced",
    });
    save(lines.slice(0, 1));
    expect(verify()).toMatchObject({ ok: false, records: 1, line: 2, problem: expect.stringMatching(/^the log ends at record 1 but its head says 5 records/) });
  });

  it("finds the log emptied, and the log deleted", () => {
    writeFive();
    writeFileSync(file, "");
    expect(verify()).toEqual({ ok: false, records: 0, line: null, problem: "the log is empty but its head says 5 records: it was emptied or replaced" });
    unlinkSync(file);
    expect(verify()).toEqual({ ok: false, records: 0, line: null, problem: "the log is missing but its head says 5 records: it was deleted or moved" });
  });

  it("finds a re-chained log (every hash recomputed after an edit) whether its macs are kept, dropped or all stripped", () => {
    const lines = writeFive();
    const records = lines.map((l) => JSON.parse(l) as AuditRecord);
    /** Edits record 3 and recomputes every hash from there, as an attacker without the key can. */
    const rechain = (mac: (r: AuditRecord, i: number) => string | undefined, from = 0) => {
      let prev = from === 0 ? GENESIS : records[from - 1]!.hash;
      return records.map((r, i) => {
        if (i < from) return JSON.stringify(r);
        const { hash: _, mac: __, ...body } = { ...r, prev, ...(i === 2 && { decision: "green" as const, by: "policy" as const, reason: "forged" }) };
        const hash = recordHash(body);
        prev = hash;
        const m = mac(r, i);
        return JSON.stringify({ ...body, hash, ...(m !== undefined && { mac: m }) });
      });
    };
    save(rechain((r) => r.mac, 2));
    expect(verify()).toMatchObject({ ok: false, records: 2, line: 3, problem: expect.stringContaining("the record's mac does not match the key") });
    save(rechain(() => undefined, 2));
    expect(verify()).toMatchObject({ ok: false, records: 2, line: 3, problem: expect.stringContaining("the record carries no mac but records before it do: its mac was removed") });
    // Every mac stripped, as if the whole log predated the key: its head says none did.
    save(rechain(() => undefined));
    expect(verify()).toEqual({
      ok: false,
      records: 0,
      line: 1,
      problem: "the record carries no mac but the log's head says only its first 0 records were written before the key existed: its mac was removed",
    });
    save(rechain(() => createHmac("sha256", Buffer.alloc(32, 7)).update("x").digest("hex")));
    expect(verify()).toMatchObject({ ok: false, line: 1, problem: expect.stringContaining("mac does not match") });
  });

  it("without the key (another machine): checks the chain and the head, says the macs were not checked", () => {
    const lines = writeFive();
    const elsewhere = join(dir, "elsewhere", "ironclaw");
    mkdirSync(join(elsewhere, "audit-heads"), { recursive: true });
    copyFileSync(headFile(), auditHeadPath(file, elsewhere));
    expect(verify(file, { anchorDir: elsewhere })).toEqual({
      ok: true,
      records: 5,
      head: (JSON.parse(lines[4]!) as AuditRecord).hash,
      unkeyed: 0,
      macs: "unchecked",
      saved: { file: auditHeadPath(file, elsewhere), records: 5 },
      notes: [`no key at ${auditKeyPath(elsewhere)} (another user's or machine's log?): the chain was checked, the macs were not`],
    });
    // Re-chained from record 4 with its macs kept: only the head can tell, at its record.
    const records = lines.map((l) => JSON.parse(l) as AuditRecord);
    let prev = records[2]!.hash;
    const forged = records.map((r, i) => {
      if (i < 3) return JSON.stringify(r);
      const { hash: _, mac, ...body } = { ...r, prev, ...(i === 3 && { reason: "forged" }) };
      prev = recordHash(body);
      return JSON.stringify({ ...body, hash: prev, mac });
    });
    save(forged);
    expect(verify(file, { anchorDir: elsewhere })).toEqual({
      ok: false,
      records: 4,
      line: 5,
      problem: "the record is not the one the log's head saved as record 5: the log was re-chained or replaced",
    });
  });

  it("accepts a log that grew past its head (the head's write did not happen), and says so", () => {
    writeFive();
    const stale = readFileSync(headFile());
    newLog().append(entry(6));
    writeFileSync(headFile(), stale);
    expect(verify()).toMatchObject({
      ok: true,
      records: 6,
      saved: { records: 5 },
      notes: ["1 record after the saved head (appended after it was last saved: a write stopped between the log and its head)"],
    });
    // The next append carries on, and saves a head that is whole again.
    newLog().append(entry(7));
    expect(verify()).toMatchObject({ ok: true, records: 7, saved: { records: 7 }, notes: [] });
  });

  it("verifies a log written before the key existed, counts its unkeyed records, and keys everything after them", () => {
    let prev = GENESIS;
    const old = [1, 2, 3].map((n) => {
      const body = { seq: n, at: "2025-01-01T00:00:00.000Z", ...entry(n), prev };
      prev = recordHash(body);
      return JSON.stringify({ ...body, hash: prev });
    });
    mkdirSync(join(dir, "logs"));
    save(old);
    expect(verify()).toEqual({
      ok: true,
      records: 3,
      head: prev,
      unkeyed: 3,
      macs: "none",
      saved: null,
      notes: ["3 records at the start carry no mac (written before the key existed)", `no saved head for this file (${headFile()}): records removed from its end would not show`],
    });
    expect(newLog().append(entry(4))).toMatchObject({ seq: 4, prev, mac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    newLog().append(entry(5));
    expect(JSON.parse(readFileSync(headFile(), "utf8"))).toMatchObject({ records: 5, unkeyed: 3 });
    expect(verify()).toMatchObject({ ok: true, records: 5, unkeyed: 3, macs: "verified", notes: ["3 records at the start carry no mac (written before the key existed)"] });
    // A keyed record's mac removed, and an unkeyed record appended after keyed ones: both refused.
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    const { mac: _, ...bare } = JSON.parse(lines[4]!) as AuditRecord;
    save([...lines.slice(0, 4), JSON.stringify(bare)]);
    expect(verify()).toMatchObject({ ok: false, line: 5, problem: expect.stringContaining("the record carries no mac but records before it do") });
  });

  it("finds a saved head that was edited, or belongs to another log", () => {
    writeFive();
    const head = JSON.parse(readFileSync(headFile(), "utf8")) as Record<string, unknown>;
    writeFileSync(headFile(), JSON.stringify({ ...head, records: 3 }));
    expect(verify()).toEqual({
      ok: false,
      records: 5,
      line: null,
      problem: `the log's saved head (${headFile()}) does not match its mac: it was edited, or saved with another key`,
    });
    writeFileSync(headFile(), JSON.stringify({ ...head, file: "/elsewhere/audit.jsonl" }));
    expect(verify()).toMatchObject({ ok: false, line: null, problem: `the log's saved head (${headFile()}) is the head of /elsewhere/audit.jsonl: it was copied there` });
    writeFileSync(headFile(), "{");
    expect(verify()).toMatchObject({ ok: false, line: null, problem: expect.stringContaining("is not valid JSON") });
  });

  it("keeps heads per log path: a copy has none, and says so", () => {
    writeFive();
    const copy = join(dir, "copy.jsonl");
    copyFileSync(file, copy);
    expect(verify(copy)).toMatchObject({
      ok: true,
      records: 5,
      saved: null,
      notes: [`no saved head for this file (${auditHeadPath(copy, anchorDir)}): records removed from its end would not show`],
    });
  });

  it("will not append to a log that is behind its head (that would save over the evidence)", () => {
    const lines = writeFive();
    save(lines.slice(0, 3));
    expect(() => newLog().append(entry(6))).toThrow(expect.objectContaining({ code: "EAUDIT", kind: "log", message: expect.stringContaining("ends at record 3 but its head") }));
    unlinkSync(file);
    expect(() => newLog().append(entry(6))).toThrow(expect.objectContaining({ code: "EAUDIT", kind: "log", message: expect.stringContaining("ends at record 0 but its head") }));
    expect(existsSync(file)).toBe(true); // opened, nothing written
    expect(readFileSync(file, "utf8")).toBe("");
    expect(verify()).toMatchObject({ ok: false, problem: expect.stringContaining("the log is empty but its head says 5 records") });
  });

  it("refuses a key file open to others, or of the wrong size, naming it", () => {
    writeFive();
    const key = auditKeyPath(anchorDir);
    chmodSync(key, 0o644);
    const loose = `${key} is open to other users (mode 0644): run chmod 600 ${key}`;
    expect(() => newLog().append(entry(6))).toThrow(expect.objectContaining({ name: "AuditLogError", code: "EAUDIT", kind: "key", message: loose }));
    expect(() => verify()).toThrow(loose);
    chmodSync(key, 0o600);
    writeFileSync(key, Buffer.alloc(16));
    expect(() => newLog().append(entry(6))).toThrow(
      expect.objectContaining({ kind: "key", message: expect.stringMatching(new RegExp(`^${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} holds 16 bytes, not 32`)) }),
    );
    expect(readFileSync(file, "utf8").trimEnd().split("\n")).toHaveLength(5);
  });

  it("fails with an AuditLogError (code EAUDIT) when the log cannot be written", () => {
    mkdirSync(file, { recursive: true });
    expect(() => newLog().append(entry(1))).toThrow(expect.objectContaining({ name: "AuditLogError", code: "EAUDIT", kind: "io", message: expect.stringContaining("EISDIR") }));
  });

  it("keeps the key and the heads in the user's config dir", () => {
    expect(auditAnchorDir({ XDG_CONFIG_HOME: "/x/config" })).toBe("/x/config/ironclaw");
    expect(auditAnchorDir()).toBe(join(process.env.XDG_CONFIG_HOME!, "ironclaw"));
  });
});
