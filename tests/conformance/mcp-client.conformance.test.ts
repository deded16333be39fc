// The official MCP conformance suite (@modelcontextprotocol/conformance, client mode) against
// IronClaw's client, as its harness drives it: for each client scenario of spec 2025-11-25 the
// harness starts a scenario server and runs `bin/ironclaw mcp conformance-client URL`; its
// checks (initialize, tool calls, elicitation defaults, SSE resumption, every OAuth flow) decide.
// Scenarios run one at a time: sse-retry judges reconnect timing, which parallel runs on a
// 2-core machine would blur. Expected failures live in client-baseline.yml (the target is none).
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const harness = join(root, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
const SPEC = "2025-11-25";

// The suite needs Node 22+: run it on the Node that runs the tests (the repo's pinned one).
const scenarios = execFileSync(process.execPath, [harness, "list", "--client", "--spec-version", SPEC], { encoding: "utf8" })
  .split("\n")
  .map((line) => /^\s+- (\S+)/.exec(line)?.[1])
  .filter((name): name is string => Boolean(name));

describe(`MCP conformance suite, client mode, spec ${SPEC}`, () => {
  it("lists the client scenarios of the spec, auth included", () => {
    expect(scenarios).toContain("initialize");
    expect(scenarios.filter((s) => s.startsWith("auth/")).length).toBeGreaterThan(5);
  });

  it.each(scenarios)(
    "%s",
    (scenario) => {
      const run = spawnSync(
        process.execPath,
        [
          harness,
          "client",
          "--command",
          "bin/ironclaw mcp conformance-client",
          "--scenario",
          scenario,
          "--spec-version",
          SPEC,
          "--expected-failures",
          join(import.meta.dirname, "client-baseline.yml"),
        ],
        { cwd: root, encoding: "utf8", env: { ...process.env, PATH: `${join(process.execPath, "..")}:${process.env.PATH}` }, timeout: 90_000 },
      );
      // On failure the harness's own report (which checks failed, the client's stderr) is the message.
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    },
    120_000,
  );
});
