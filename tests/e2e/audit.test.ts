// `ironclaw audit verify` as a user runs it: a whole log passes (exit 0), a tampered one names
// the first problem (exit 65), with and without --json, for the default log and a named file.
// Records cut from the end of a real run's log are found by the head kept in the user's config
// dir; a run's record of an answer at the cliff says what was decided on (each file applied, by
// the hash of its bytes; a red tool call's arguments); and a run whose audit log cannot be
// written fails, saying so, and runs nothing more.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AuditLog, auditHeadPath, auditKeyPath } from "../../actors/audit/audit-log.ts";
import { sha256Hex } from "../../core/hash.ts";
import { backendsUnderTest } from "../support/backends.ts";
import { cliHarness } from "../support/cli.ts";
import { exampleProject, removeExampleProjects, script, userConfig } from "../support/example-project.ts";
import { atTerminal } from "../support/pty.ts";

const { BIN, env, ironclaw } = cliHarness("audit");
const defaultLog = join(env.IRONCLAW_STATE_DIR, "audit.jsonl");
const dir = mkdtempSync(join(tmpdir(), "ironclaw-audit-e2e-"));
// This file's own config dir: the audit key and the heads live there, never in the real user's.
const config = { XDG_CONFIG_HOME: join(dir, "config") };
const anchorDir = join(config.XDG_CONFIG_HOME, "ironclaw");
const backend = backendsUnderTest()[0];
const SCRIPT = join(import.meta.dirname, "..", "..", "examples", "fix-tests.script.yaml");
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(env.IRONCLAW_STATE_DIR, { recursive: true, force: true });
  removeExampleProjects();
});

const verify = (args: string[] = [], extra: NodeJS.ProcessEnv = config) => ironclaw(["audit", "verify", ...args], { env: extra });

function fill(file: string, n: number): string[] {
  const log = new AuditLog(file, { anchorDir });
  for (let i = 1; i <= n; i++) {
    log.append({
      session: "e2e",
      action: { kind: "apply", paths: [`f${i}`] },
      actionHash: sha256Hex(String(i)),
      decision: "approved",
      by: "user",
      reason: "approved at the terminal",
    });
  }
  return readFileSync(file, "utf8").trimEnd().split("\n");
}

describe("ironclaw audit verify", () => {
  it("says OK with no log yet at the default place", async () => {
    const r = await verify();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`audit log OK: 0 records (no log yet at ${defaultLog})\n`);
  });

  it("verifies the default log: exit 0, then 65 naming the line once a record is dropped", async () => {
    const lines = fill(defaultLog, 3);
    expect(await verify()).toMatchObject({ code: 0, stdout: "audit log OK: 3 records\n", stderr: "" });
    const json = await verify(["--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      file: defaultLog,
      ok: true,
      records: 3,
      head: JSON.parse(lines[2]!).hash,
      unkeyed: 0,
      macs: "verified",
      saved: { file: auditHeadPath(defaultLog, anchorDir), records: 3 },
      notes: [],
    });

    writeFileSync(defaultLog, `${[lines[0], lines[2]].join("\n")}\n`);
    const broken = await verify();
    expect(broken.code).toBe(65);
    expect(broken.stdout).toBe("audit log BROKEN at line 2: the record does not follow line 1 (prev is not that record's hash): a record was dropped, inserted or moved here\n");
    rmSync(defaultLog);
    expect(await verify()).toMatchObject({ code: 65, stdout: "audit log BROKEN: the log is missing but its head says 3 records: it was deleted or moved\n" });
    rmSync(auditHeadPath(defaultLog, anchorDir));
  });

  it("verifies a named file, and reports an edit as JSON", async () => {
    const file = join(dir, "copy.jsonl");
    const lines = fill(file, 2);
    expect(await verify([file])).toMatchObject({ code: 0, stdout: "audit log OK: 2 records\n" });
    writeFileSync(file, `${lines[0]!.replace("approved at the terminal", "approved by nobody")}\n${lines[1]}\n`);
    const r = await verify(["--json", file]);
    expect(r.code).toBe(65);
    expect(JSON.parse(r.stdout)).toEqual({ file, ok: false, records: 0, line: 1, problem: "the record does not match its hash: it was edited" });
  });

  it("without the key (another user's config): checks the chain, says the macs were not", async () => {
    const file = join(dir, "elsewhere.jsonl");
    fill(file, 2);
    const r = await verify([file], { XDG_CONFIG_HOME: join(dir, "other-config") });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "audit log OK: 2 records",
        `note: no key at ${auditKeyPath(join(dir, "other-config", "ironclaw"))} (another user's or machine's log?): the chain was checked, the macs were not`,
        `note: no saved head for this file (${auditHeadPath(file, join(dir, "other-config", "ironclaw"))}): records removed from its end would not show`,
        "",
      ].join("\n"),
    );
  });

  it("refuses a key file open to other users, naming it (exit 2)", async () => {
    const file = join(dir, "loose.jsonl");
    fill(file, 1);
    const key = auditKeyPath(anchorDir);
    chmodSync(key, 0o644);
    try {
      expect(await verify([file])).toMatchObject({ code: 2, stdout: "", stderr: `ironclaw: ${key} is open to other users (mode 0644): run chmod 600 ${key}\n` });
    } finally {
      chmodSync(key, 0o600);
    }
  });

  it("refuses a named file that does not exist (exit 2)", async () => {
    const r = await verify([join(dir, "nope.jsonl")]);
    expect(r).toMatchObject({ code: 2, stdout: "", stderr: `ironclaw: no audit log at ${join(dir, "nope.jsonl")}\n` });
  });
});

describe.skipIf(!backend)("the audit log of a real run", () => {
  it("a run's log verifies; with its last record dropped, verify exits 65 saying records were removed from the end", async () => {
    const project = exampleProject();
    // The run and verify share one config dir (its key and heads) and one state dir (the log).
    const own = { ...userConfig(project), IRONCLAW_STATE_DIR: join(dir, "run-state") };
    const run = await ironclaw(["run", "fix the failing test", "--script", SCRIPT, "--approve", "deny", "-b", backend!, "--json"], { cwd: project, env: own });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ outcome: "done", changes: { notApplied: expect.stringMatching(/denied/) } });
    const log = join(own.IRONCLAW_STATE_DIR, "audit.jsonl");
    const lines = readFileSync(log, "utf8").trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(1);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ decision: "denied", by: "non-interactive" });
    expect(await verify([], own)).toMatchObject({ code: 0, stdout: `audit log OK: ${lines.length} records\n` });

    writeFileSync(log, `${lines.slice(0, -1).join("\n")}\n`);
    const r = await verify([], own);
    expect(r).toMatchObject({
      code: 65,
      stdout: `audit log BROKEN at line ${lines.length}: the log ends at record ${lines.length - 1} but its head says ${lines.length} records: records were removed from the end, or the file replaced\n`,
    });
    // The next run does not save a new head over the evidence: it fails, saying why.
    const next = await ironclaw(["run", "fix the failing test", "--script", SCRIPT, "--approve", "deny", "-b", backend!, "--json"], { cwd: project, env: own });
    expect(next.code).toBe(1);
    expect(JSON.parse(next.stdout)).toMatchObject({
      outcome: "failed",
      failure: {
        code: "EAUDIT",
        message: expect.stringMatching(
          new RegExp(`^the audit log could not be written: ${log.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} ends at record ${lines.length - 1} but its head`),
        ),
      },
    });
    expect(readFileSync(log, "utf8").trimEnd().split("\n")).toHaveLength(lines.length - 1);
  });

  const records = (state: string) =>
    readFileSync(join(state, "audit.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
  /** The example's src/cart.js as the scripted model fixes it. */
  const fixedCart = () =>
    readFileSync(join(import.meta.dirname, "..", "..", "examples", "fix-tests", "src", "cart.js"), "utf8")
      .replace("  // Bug: the discount is added instead of taken off.\n", "")
      .replace("sum + (sum", "sum - (sum");

  it("an approved apply is recorded with each file written: its path, status and the SHA-256, size and mode of the bytes now in the project", async () => {
    const project = exampleProject();
    const own = { ...env, NO_COLOR: "1", ...userConfig(project), IRONCLAW_STATE_DIR: join(dir, "approve-state") };
    const r = await atTerminal([BIN, "run", "fix the failing test", "--script", SCRIPT, "-b", backend!], { cwd: project, env: own, answers: ["y\n"] });
    expect(r.code, r.stdout).toBe(0);
    const written = readFileSync(join(project, "src", "cart.js"));
    expect(written.toString()).toBe(fixedCart());
    const record = records(own.IRONCLAW_STATE_DIR).at(-1);
    expect(record).toMatchObject({ decision: "approved", by: "user", reason: "approved" });
    expect(record.action).toEqual({
      kind: "apply",
      summary: `apply 1 changed file(s) to ${project}`,
      files: [
        { path: "src/cart.js", status: "modified", after: { sha256: sha256Hex(written), size: written.length, mode: statSync(join(project, "src", "cart.js")).mode & 0o777 } },
      ],
      notApplied: [],
    });
    expect(await verify([], own)).toMatchObject({ code: 0 });
  });

  it("a denied apply is recorded with the files it would have written; the project keeps its own bytes", async () => {
    const project = exampleProject();
    const before = readFileSync(join(project, "src", "cart.js"), "utf8");
    const own = { ...userConfig(project), IRONCLAW_STATE_DIR: join(dir, "deny-state") };
    const r = await ironclaw(["run", "fix the failing test", "--script", SCRIPT, "--approve", "deny", "-b", backend!, "--json"], { cwd: project, env: own });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(project, "src", "cart.js"), "utf8")).toBe(before);
    const record = records(own.IRONCLAW_STATE_DIR).at(-1);
    expect(record).toMatchObject({ decision: "denied", by: "non-interactive" });
    const fixed = Buffer.from(fixedCart());
    expect(record.action).toEqual({
      kind: "apply",
      summary: `apply 1 changed file(s) to ${project}`,
      files: [{ path: "src/cart.js", status: "modified", after: { sha256: sha256Hex(fixed), size: fixed.length, mode: statSync(join(project, "src", "cart.js")).mode & 0o777 } }],
      notApplied: [],
    });
  });

  it("a red tool call is recorded with the tool and its arguments", async () => {
    const project = exampleProject({});
    const args = { to: "someone", body: "two\nlines \u001b[2J" };
    const s = script(project, [{ toolCalls: [{ name: "nowhere__send", arguments: args }] }, { text: "done" }]);
    const own = { ...userConfig(project), IRONCLAW_STATE_DIR: join(dir, "tool-state") };
    const r = await ironclaw(["run", "send it", "--script", s, "--approve", "deny", "-b", backend!, "--json"], { cwd: project, env: own });
    expect(r.code, r.stderr).toBe(0);
    const denied = records(own.IRONCLAW_STATE_DIR).filter((x) => x.decision === "denied");
    expect(denied).toEqual([expect.objectContaining({ by: "non-interactive", action: { tool: "nowhere__send", args, summary: expect.stringMatching(/^nowhere__send /) } })]);
  });

  /** A state dir whose audit log cannot be written, whoever runs (root included): the log's path is a directory. */
  function unwritableState(name: string): NodeJS.ProcessEnv {
    const state = join(dir, name);
    mkdirSync(join(state, "audit.jsonl"), { recursive: true });
    return { ...config, IRONCLAW_STATE_DIR: state };
  }

  it("a green call whose record cannot be written is not run: the session fails, saying why, and asks the model nothing more", async () => {
    const project = exampleProject({});
    const s = script(project, [{ toolCalls: [{ name: "exec", arguments: { argv: ["true"] } }] }, { text: "this turn is never reached" }]);
    const own = unwritableState("green-state");
    const json = await ironclaw(["run", "record this", "--script", s, "--approve", "deny", "-b", backend!, "--json"], { cwd: project, env: own });
    expect(json.code).toBe(1);
    const log = join(own.IRONCLAW_STATE_DIR!, "audit.jsonl");
    expect(JSON.parse(json.stdout)).toMatchObject({
      outcome: "failed",
      steps: 1,
      changes: "none",
      failure: { code: "EAUDIT", message: `the audit log could not be written: EISDIR: illegal operation on a directory, open '${log}'; nothing more was run` },
    });
    const text = await ironclaw(["run", "record this", "--script", s, "--approve", "deny", "-b", backend!], { cwd: project, env: own });
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`session failed: the audit log could not be written: EISDIR: illegal operation on a directory, open '${log}'; nothing more was run`);
  });

  it("an answer at the cliff that cannot be recorded ends the session, failed", async () => {
    const project = exampleProject({});
    // An MCP call is red: the cliff answers (denied: nobody can approve), and that answer is what fails to be written.
    const s = script(project, [{ toolCalls: [{ name: "nowhere__send", arguments: { to: "someone" } }] }, { text: "this turn is never reached" }]);
    const r = await ironclaw(["run", "record this", "--script", s, "--approve", "deny", "-b", backend!, "--json"], { cwd: project, env: unwritableState("cliff-state") });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      outcome: "failed",
      steps: 1,
      failure: { code: "EAUDIT", message: expect.stringMatching(/^the audit log could not be written: EISDIR: .*; nothing more was run$/) },
    });
    expect(out.approvals).toEqual([{ summary: expect.stringMatching(/^nowhere__send/), answer: "denied" }]);
  });
});
