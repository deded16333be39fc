// `ironclaw audit verify` as a user runs it: a whole log passes (exit 0), a tampered one names
// the first broken line (exit 65), with and without --json, for the default log and a named file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AuditLog } from "../../actors/audit-log.ts";
import { sha256Hex } from "../../src/diff-card.ts";
import { cliHarness } from "../support/cli.ts";

const { env, ironclaw } = cliHarness("audit");
const defaultLog = join(env.IRONCLAW_STATE_DIR, "audit.jsonl");
const dir = mkdtempSync(join(tmpdir(), "ironclaw-audit-e2e-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(env.IRONCLAW_STATE_DIR, { recursive: true, force: true });
});

function fill(file: string, n: number): string[] {
  const log = new AuditLog(file);
  for (let i = 1; i <= n; i++) {
    log.append({ session: "e2e", action: { kind: "apply", paths: [`f${i}`] }, actionHash: sha256Hex(String(i)), decision: "approved", by: "user", reason: "approved at the terminal" });
  }
  return readFileSync(file, "utf8").trimEnd().split("\n");
}

describe("ironclaw audit verify", () => {
  it("says OK with no log yet at the default place", async () => {
    const r = await ironclaw(["audit", "verify"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`audit log OK: 0 records (no log yet at ${defaultLog})\n`);
  });

  it("verifies the default log: exit 0, then 65 naming the line once a record is dropped", async () => {
    const lines = fill(defaultLog, 3);
    expect(await ironclaw(["audit", "verify"])).toMatchObject({ code: 0, stdout: "audit log OK: 3 records\n", stderr: "" });
    const json = await ironclaw(["audit", "verify", "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ file: defaultLog, ok: true, records: 3, head: JSON.parse(lines[2]!).hash });

    writeFileSync(defaultLog, `${[lines[0], lines[2]].join("\n")}\n`);
    const broken = await ironclaw(["audit", "verify"]);
    expect(broken.code).toBe(65);
    expect(broken.stdout).toBe("audit log BROKEN at line 2: the record does not follow line 1 (prev is not that record's hash): a record was dropped, inserted or moved here\n");
  });

  it("verifies a named file, and reports an edit as JSON", async () => {
    const file = join(dir, "copy.jsonl");
    const lines = fill(file, 2);
    expect(await ironclaw(["audit", "verify", file])).toMatchObject({ code: 0, stdout: "audit log OK: 2 records\n" });
    writeFileSync(file, `${lines[0]!.replace("approved at the terminal", "approved by nobody")}\n${lines[1]}\n`);
    const r = await ironclaw(["audit", "verify", "--json", file]);
    expect(r.code).toBe(65);
    expect(JSON.parse(r.stdout)).toEqual({ file, ok: false, records: 0, line: 1, problem: "the record does not match its hash: it was edited" });
  });

  it("refuses a named file that does not exist (exit 2)", async () => {
    const r = await ironclaw(["audit", "verify", join(dir, "nope.jsonl")]);
    expect(r).toMatchObject({ code: 2, stdout: "", stderr: `ironclaw: no audit log at ${join(dir, "nope.jsonl")}\n` });
  });
});
