// `ironclaw run` end to end with the scripted model shipped in the repo (examples/): the real
// sandbox, the real MCP filesystem server, the real approval cliff. Denied, the project is
// byte-for-byte unchanged; approved (answered at a real pseudo-terminal), exactly the approved
// diff lands. And the adversarial cases: writes to host files without approval, a server that
// calls a writing tool read-only, a model that never stops.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { backendsUnderTest } from "../support/backends.ts";
import { cliHarness } from "../support/cli.ts";
import { exampleProject, removeExampleProjects, script, userConfig } from "../support/example-project.ts";
import { atTerminal } from "../support/pty.ts";

const { BIN, env, ironclaw, records, sandboxProcesses } = cliHarness("run");
const root = join(import.meta.dirname, "..", "..");
const backend = backendsUnderTest()[0]!;
afterAll(removeExampleProjects);

function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

const SCRIPT = join(root, "examples", "fix-tests.script.yaml");

describe.skipIf(!backend)("ironclaw run", () => {
  it("with --approve deny: the red action is denied and the project is byte-for-byte unchanged; the audit log verifies", async () => {
    const dir = exampleProject();
    const before = fingerprint(dir);
    const r = await ironclaw(["run", "fix the failing test", "--script", SCRIPT, "--approve", "deny", "-b", backend, "--json"], { cwd: dir, env: userConfig(dir) });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ outcome: "done", changes: { notApplied: expect.stringMatching(/denied/) }, steps: 4 });
    expect(out.approvals).toEqual([{ summary: expect.stringMatching(/^apply 1 changed file/), answer: "denied" }]);
    expect(fingerprint(dir)).toEqual(before);
    expect(records()).toEqual([]); // the sandbox is gone
    // Under the run's own config dir: the audit key and the log's head are there.
    const verify = await ironclaw(["audit", "verify", "--json"], { env: userConfig(dir) });
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, macs: "verified", notes: [] });
    const log = readFileSync(join(env.IRONCLAW_STATE_DIR, "audit.jsonl"), "utf8");
    expect(log).toMatch(/"decision":"denied","by":"non-interactive"/);
  });

  it("approved at the terminal: exactly the approved diff is applied", async () => {
    const dir = exampleProject();
    const before = fingerprint(dir);
    const r = await atTerminal([BIN, "run", "fix the failing test", "--script", SCRIPT, "-b", backend], {
      cwd: dir,
      env: { ...env, NO_COLOR: "1", ...userConfig(dir) },
      answers: ["y\n"],
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/- {2}return Math\.round\(sum \+ \(sum \* discountPercent\) \/ 100\);/); // the card was shown
    const after = fingerprint(dir);
    expect(Object.keys(after).filter((f) => after[f] !== before[f])).toEqual(["src/cart.js"]);
    expect(readFileSync(join(dir, "src", "cart.js"), "utf8")).toBe(
      readFileSync(join(root, "examples", "fix-tests", "src", "cart.js"), "utf8")
        .replace("  // Bug: the discount is added instead of taken off.\n", "")
        .replace("sum + (sum", "sum - (sum"),
    );
    expect(readFileSync(join(env.IRONCLAW_STATE_DIR, "audit.jsonl"), "utf8")).toMatch(/"decision":"approved","by":"user","reason":"approved"/);
  });

  it("denies a write to the host through an MCP tool that needs approval, and the file stays as it was", async () => {
    const dir = exampleProject();
    const before = fingerprint(dir);
    const s = script(dir, [
      { toolCalls: [{ name: "files__write_file", arguments: { path: "src/cart.js", content: "pwned" } }] },
      { expect: { toolResult: "not run", toolError: true }, text: "I could not write it." },
    ]);
    const r = await ironclaw(["run", "overwrite the cart", "--script", s, "--approve", "deny", "-b", backend, "--json"], { cwd: dir, env: userConfig(dir) });
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "done", changes: "none" });
    expect(fingerprint(dir)).toEqual(before);
  });

  it("does not believe a server that calls a writing tool read-only", async () => {
    const dir = exampleProject({ liar: { command: "node", args: [join(root, "tests", "fixtures", "mcp", "faulty-server.mjs"), "normal"] } });
    const marker = join(dir, "planted.txt");
    const s = script(dir, [{ toolCalls: [{ name: "liar__peek", arguments: { path: marker } }] }, { expect: { toolResult: "not run", toolError: true }, text: "denied" }]);
    const r = await ironclaw(["run", "peek", "--script", s, "--approve", "deny", "-b", backend, "--json"], { cwd: dir, env: userConfig(dir) });
    expect(r.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it("keeps file tools inside the sandbox: absolute paths and ../ reach the sandbox's files, never the host's", async () => {
    const dir = exampleProject({});
    const before = fingerprint(dir);
    const s = script(dir, [
      {
        toolCalls: [
          { name: "read_file", arguments: { path: "/etc/hostname" } },
          { name: "write_file", arguments: { path: "../../escaped.txt", content: "out" } },
          { name: "write_file", arguments: { path: `${dir}/planted.txt`, content: "in" } },
        ],
      },
      { expect: { toolResult: ["ironclaw", "wrote /workspace/../../escaped.txt"] }, text: "done" },
    ]);
    const r = await ironclaw(["run", "escape", "--script", s, "--approve", "deny", "-b", backend, "--json"], { cwd: dir, env: userConfig(dir) });
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "done", changes: "none" });
    expect(fingerprint(dir)).toEqual(before);
    expect(existsSync(join(dir, "..", "..", "escaped.txt"))).toBe(false);
  });

  it("a model's exec timeout of 0 (or absurd) is kept to a sane bound: the command runs, the sandbox is not torn down", async () => {
    const dir = exampleProject({});
    // Runs past the vm's 5 s grace: unbounded, 0 would have tripped the vm's exec deadline.
    const s = script(dir, [
      { toolCalls: [{ name: "exec", arguments: { argv: ["sleep", "6"], timeoutSecs: 0 } }] },
      { expect: { toolResult: "exit code 0", toolError: false }, toolCalls: [{ name: "exec", arguments: { argv: ["true"], timeoutSecs: -5 } }] },
      { expect: { toolResult: "exit code 0", toolError: false }, text: "done" },
    ]);
    const r = await ironclaw(["run", "timeouts", "--script", s, "--approve", "deny", "-b", backend, "--json"], { cwd: dir, env: userConfig(dir) });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "done" });
  });

  it("tears the session's sandbox down and exits 130 on Ctrl-C", async () => {
    const dir = exampleProject({});
    const s = script(dir, [{ toolCalls: [{ name: "exec", arguments: { argv: ["sleep", "64.25"] } }] }, { text: "never" }]);
    const r = await ironclaw(["run", "wait", "--script", s, "--approve", "deny", "-b", backend], {
      cwd: dir,
      onSpawn: (child) => {
        const poll = setInterval(() => {
          if (sandboxProcesses("sleep 64.25").some((l) => l.endsWith("sleep 64.25"))) {
            clearInterval(poll);
            child.kill("SIGINT");
          }
        }, 50);
      },
    });
    expect(r.code).toBe(130);
    expect(sandboxProcesses("sleep 64.25").filter((l) => l.endsWith("sleep 64.25"))).toEqual([]);
    expect(records()).toEqual([]);
  });

  it("a reply cut off at the model's output limit is not taken as done, and its cut tool calls do not run: the model is told and goes on", async () => {
    const dir = exampleProject({});
    const s = script(dir, [
      { toolCalls: [{ name: "write_file", arguments: { path: "notes.txt", content: "kept\n" } }] },
      // Cut mid-turn: its tool call (maybe cut too) must not run, and the run must not end here.
      { text: "Writing the las", toolCalls: [{ name: "write_file", arguments: { path: "cut.txt", content: "half" } }], stop: "max_tokens" },
      { expect: { user: "cut off at your output token limit" }, text: "Done, in shorter steps." },
    ]);
    const r = await ironclaw(["run", "write notes", "--script", s, "--approve", "deny", "-b", backend, "--json"], { cwd: dir, env: userConfig(dir) });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ outcome: "done", steps: 3, answer: "Done, in shorter steps." });
    // Only the whole turn's change reached the cliff.
    expect(out.approvals).toEqual([{ summary: expect.stringMatching(/^apply 1 changed file\(s\)/), answer: "denied" }]);
    expect(existsSync(join(dir, "cut.txt"))).toBe(false);
  });

  it("stops a model that never stops at its step budget, and leaves no sandbox", async () => {
    const dir = exampleProject({});
    const loop = Array.from({ length: 10 }, () => ({ toolCalls: [{ name: "exec", arguments: { argv: ["true"] } }] }));
    const r = await ironclaw(["run", "loop", "--script", script(dir, loop), "--approve", "deny", "--max-steps", "3", "-b", backend, "--json"], { cwd: dir });
    expect(r.code).toBe(124);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "budgetExceeded", steps: 3, reason: "the model used its 3 steps" });
    expect(records()).toEqual([]);
  });
});
