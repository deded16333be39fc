// `ironclaw mcp` as a user runs it, against server-everything from node_modules: tools, a call,
// a config the command policy refuses, and the daemon's long-lived connection surviving the
// server being killed (the connection actor reconnects, and says so in status and the log).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliHarness } from "../support/cli.ts";

const { env, ironclaw, until } = cliHarness("mcp");
const EVERYTHING = join(import.meta.dirname, "..", "..", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js");
const project = mkdtempSync(join(tmpdir(), "ironclaw-mcp-project-"));
const marker = `--ironclaw-e2e-${process.pid}`;
mkdirSync(join(project, ".ironclaw"));
// The servers are the user's (a config home of the suite's own), so they run on the host; a project's would need trust first.
const configHome = mkdtempSync(join(tmpdir(), "ironclaw-mcp-config-"));
env.XDG_CONFIG_HOME = configHome;
mkdirSync(join(configHome, "ironclaw"));
const configure = (servers: unknown, scope: "user" | "project" = "user") => {
  writeFileSync(join(configHome, "ironclaw", "config.json"), JSON.stringify({ mcpServers: scope === "user" ? servers : {} }));
  writeFileSync(join(project, ".ironclaw", "config.json"), JSON.stringify({ mcpServers: scope === "project" ? servers : {} }));
};
const everything = { everything: { command: "node", args: [EVERYTHING, "stdio", marker] } };

const serverPids = () =>
  execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(marker) && l.includes("server-everything") && !l.includes("setpriv"))
    .map((l) => Number(l.trim().split(/\s+/)[0]));

afterAll(async () => {
  await ironclaw(["down"], { cwd: project });
  rmSync(project, { recursive: true, force: true });
  rmSync(configHome, { recursive: true, force: true });
});

describe("ironclaw mcp", () => {
  it("lists server-everything's tools and calls echo", async () => {
    configure(everything);
    const tools = await ironclaw(["mcp", "tools", "everything", "--json"], { cwd: project });
    expect(tools.code).toBe(0);
    expect(JSON.parse(tools.stdout).tools.map((t: { name: string }) => t.name)).toContain("echo");
    const call = await ironclaw(["mcp", "call", "everything", "echo", "--args", '{"message":"hi"}'], { cwd: project });
    expect(call).toMatchObject({ code: 0, stdout: "Echo: hi\n" });
    expect(serverPids()).toEqual([]); // the command closed its connection
  });

  it.each([
    [{ command: 'sh -c "echo pwned"' }, /mcpServers\.bad\.command: "sh -c \\"echo pwned\\"" contains shell syntax/],
    [{ command: "node;id" }, /mcpServers\.bad\.command: "node;id" contains shell syntax \(";"\)/],
    [{ command: "sh", args: ["-c", "id"] }, /mcpServers\.bad\.command: "sh" is not an allowed launcher/],
  ])("refuses %j with one line naming the key, exit 2, starting nothing", async (entry, message) => {
    configure({ bad: entry }, "project");
    const r = await ironclaw(["mcp", "list"], { cwd: project });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^ironclaw: ${project}/\\.ironclaw/config\\.json: ${message.source}`));
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("keeps the daemon's connection: a killed server is reconnected, and status and the log show it", async () => {
    configure(everything);
    expect((await ironclaw(["up", "--backend", "namespace"], { cwd: project, env: { IRONCLAW_POOL_SIZE: "1" } })).code).toBe(0);
    const list = async () => JSON.parse((await ironclaw(["mcp", "list", "--json"], { cwd: project })).stdout) as { path: string; servers: Array<{ state: string }> };
    const waitReady = async () => {
      for (let i = 0; i < 100; i++) {
        const l = await list();
        if (l.path === "daemon" && l.servers[0]?.state === "ready") return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    };
    expect(await waitReady()).toBe(true);
    const before = serverPids();
    expect(before.length).toBeGreaterThan(0);
    for (const pid of before) process.kill(pid, "SIGKILL");
    expect(await waitReady()).toBe(true);
    const after = serverPids();
    expect(after.length).toBeGreaterThan(0);
    expect(after.some((pid) => !before.includes(pid))).toBe(true); // a new server process
    const call = await ironclaw(["mcp", "call", "everything", "echo", "--args", '{"message":"again"}'], { cwd: project });
    expect(call).toMatchObject({ code: 0, stdout: "Echo: again\n" });
    const status = JSON.parse((await ironclaw(["status", "--json"], { cwd: project })).stdout) as { children: Array<{ id: string; src: string; state: string }> };
    expect(status.children).toContainEqual({ id: "everything", src: "mcp", state: '{"ready":"idle"}' });
    const log = readFileSync(join(env.IRONCLAW_STATE_DIR, "logs", "ironclaw.log"), "utf8");
    expect(log).toMatch(/"actor":"everything","state":"reconnecting"/);
    expect((await ironclaw(["down"], { cwd: project })).code).toBe(0);
    expect(await until(serverPids, (p) => p.length === 0, 5000)).toEqual([]);
  });
});
