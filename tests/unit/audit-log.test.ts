// The audit log's hash chain: records appended by one or several processes verify, and every
// way of tampering with the file (edit, drop, reorder, insert, truncate) is found, at its line.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditLog, auditLogPath, GENESIS, recordHash, verifyAuditLog, type AuditRecord } from "../../actors/audit-log.ts";
import { canonicalJson, sha256Hex } from "../../src/diff-card.ts";

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ironclaw-audit-"));
  file = join(dir, "logs", "audit.jsonl");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const entry = (n: number): Omit<AuditRecord, "seq" | "at" | "prev" | "hash"> => ({
  session: "s1",
  action: { tool: "apply", args: { paths: [`f${n}.txt`] } },
  actionHash: sha256Hex(`action ${n}`),
  decision: n % 2 ? "approved" : "green",
  by: n % 2 ? "user" : "policy",
  reason: `reason ${n}`,
});

function writeFive(): string[] {
  const log = new AuditLog(file);
  for (let n = 1; n <= 5; n++) log.append(entry(n));
  return readFileSync(file, "utf8").trimEnd().split("\n");
}
const save = (lines: string[]) => writeFileSync(file, `${lines.join("\n")}\n`);

describe("AuditLog.append", () => {
  it("chains records: seq from 1, prev the previous hash (genesis first), hash over the rest", () => {
    const log = new AuditLog(file, { now: () => new Date("2026-01-02T03:04:05.000Z") });
    const first = log.append(entry(1));
    const second = log.append(entry(2));
    expect(first).toMatchObject({ seq: 1, at: "2026-01-02T03:04:05.000Z", prev: GENESIS, ...entry(1) });
    expect(second).toMatchObject({ seq: 2, prev: first.hash });
    const { hash, ...body } = first;
    expect(hash).toBe(sha256Hex(canonicalJson(body)));
    expect(recordHash(first)).toBe(hash);
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[0]!)).toEqual(first);
    expect(verifyAuditLog(file)).toEqual({ ok: true, records: 2, head: second.hash });
  });

  it("continues the chain of a log another AuditLog (or process) wrote", () => {
    new AuditLog(file).append(entry(1));
    const next = new AuditLog(file).append(entry(2));
    expect(next.seq).toBe(2);
    expect(verifyAuditLog(file)).toMatchObject({ ok: true, records: 2 });
  });

  it("hashes the record as it reads back from JSON", () => {
    const record = new AuditLog(file).append({ ...entry(1), action: { n: NaN, gone: undefined, when: new Date(0) } });
    expect(record.action).toEqual({ n: null, when: "1970-01-01T00:00:00.000Z" });
    expect(verifyAuditLog(file).ok).toBe(true);
  });

  it("keeps the file 0600 in a 0700 directory", () => {
    new AuditLog(file).append(entry(1));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "logs")).mode & 0o777).toBe(0o700);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it("refuses to chain onto a last line that was cut short", () => {
    const lines = writeFive();
    writeFileSync(file, `${lines.join("\n")}\n${lines[0]!.slice(0, 30)}`);
    expect(() => new AuditLog(file).append(entry(6))).toThrow(/the last record is cut short; run `ironclaw audit verify`/);
  });

  it("breaks a lock left by a process that died holding it", () => {
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    new AuditLog(file).append(entry(1));
    writeFileSync(`${file}.lock`, dead);
    expect(new AuditLog(file).append(entry(2)).seq).toBe(2);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it("keeps one chain when two processes append at once", async () => {
    const script = `
      import { AuditLog } from ${JSON.stringify(join(import.meta.dirname, "..", "..", "actors", "audit-log.ts"))};
      const log = new AuditLog(process.argv[1]);
      for (let i = 0; i < 200; i++) log.append({ session: process.argv[2], action: { i }, actionHash: "h", decision: "green", by: "policy", reason: "r" });
    `;
    const { spawn } = await import("node:child_process");
    const run = (session: string) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", script, file, session], { stdio: ["ignore", "ignore", "inherit"] });
        child.on("close", resolve);
      });
    expect(await Promise.all([run("a"), run("b")])).toEqual([0, 0]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: true, records: 400 });
  });
});

describe("verifyAuditLog", () => {
  it("accepts an absent or empty log", () => {
    expect(verifyAuditLog(join(dir, "none.jsonl"))).toEqual({ ok: true, records: 0, head: GENESIS });
    writeFileSync(file.replace("logs/", ""), "");
    expect(verifyAuditLog(file.replace("logs/", ""))).toEqual({ ok: true, records: 0, head: GENESIS });
  });

  it("finds an edited record", () => {
    const lines = writeFive();
    save(lines.map((l, i) => (i === 2 ? l.replace('"reason 3"', '"reason three"') : l)));
    expect(verifyAuditLog(file)).toEqual({ ok: false, records: 2, line: 3, problem: "the record does not match its hash: it was edited" });
  });

  it("finds an edited record whose hash was recomputed, at the record after it", () => {
    const lines = writeFive();
    const forged = { ...(JSON.parse(lines[2]!) as AuditRecord), decision: "approved" as const, reason: "forged" };
    save(lines.map((l, i) => (i === 2 ? JSON.stringify({ ...forged, hash: recordHash(forged) }) : l)));
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 4, problem: expect.stringContaining("does not follow line 3") });
  });

  it("finds a dropped record", () => {
    const lines = writeFive();
    save(lines.filter((_, i) => i !== 1));
    expect(verifyAuditLog(file)).toEqual({
      ok: false,
      records: 1,
      line: 2,
      problem: "the record does not follow line 1 (prev is not that record's hash): a record was dropped, inserted or moved here",
    });
    save(lines.slice(1));
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, records: 0, line: 1, problem: expect.stringContaining("records before it were removed") });
  });

  it("finds reordered records", () => {
    const lines = writeFive();
    save([lines[0]!, lines[2]!, lines[1]!, lines[3]!, lines[4]!]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, records: 1, line: 2, problem: expect.stringContaining("does not follow line 1") });
  });

  it("finds an inserted record, even a copy of a real one", () => {
    const lines = writeFive();
    save([...lines.slice(0, 3), lines[1]!, ...lines.slice(3)]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, records: 3, line: 4 });
    const invented = { seq: 4, at: "2026-01-01T00:00:00.000Z", ...entry(9), prev: sha256Hex("x"), hash: "" };
    save([...lines.slice(0, 3), JSON.stringify({ ...invented, hash: recordHash(invented) }), ...lines.slice(3)]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 4, problem: expect.stringContaining("does not follow line 3") });
  });

  it("finds a truncated last line, and a last line missing only its newline", () => {
    const lines = writeFive();
    writeFileSync(file, `${lines.slice(0, 4).join("\n")}\n${lines[4]!.slice(0, 50)}`);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, records: 4, line: 5, problem: expect.stringContaining("cut short") });
    writeFileSync(file, lines.join("\n"));
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, records: 4, line: 5 });
  });

  it("names lines that are not records", () => {
    const lines = writeFive();
    save([...lines.slice(0, 2), "", ...lines.slice(2)]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 3, problem: "an empty line where a record should be" });
    save([lines[0]!, "{not json", ...lines.slice(1)]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 2, problem: "not valid JSON (the line was cut short or edited)" });
    save([JSON.stringify({ ...JSON.parse(lines[0]!), decision: "maybe" })]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 1, problem: expect.stringMatching(/^not an audit record \(decision: Expected "green" \| /) });
  });

  it("lives under the state directory", () => {
    expect(auditLogPath()).toBe(join(process.env.IRONCLAW_STATE_DIR!, "audit.jsonl"));
  });
});
