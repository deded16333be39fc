// Stdio MCP servers with `sandbox: true`, for real on every process backend: server-filesystem
// from node_modules reading a directory it is given, refused writes (its files and the project
// are read-only), no network (a probe server that sees only lo and cannot reach a listener on
// the host's loopback, where the same server unsandboxed can), reconnection in a fresh sandbox,
// and nothing left behind: not on shutdown, and not after IronClaw itself is SIGKILLed.
import { createServer, type Server } from "node:net";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nanoid } from "nanoid";
import { isAlive } from "../../actors/sandbox/host-process.ts";
import type { BackendName } from "../../core/backend.ts";
import type { SandboxRecord } from "../../actors/sandbox/sandbox-driver.ts";
import { MCP_SANDBOX_LIMITS, planSandboxedServer } from "../../actors/mcp/mcp-sandboxed.transport.ts";
import { GUEST_NODE, hostMountProblem } from "../../actors/sandbox/sandbox-view.ts";
import type { StdioServerConfig } from "../../core/mcp-server.ts";
import type { Runtime } from "../../src/runtime.ts";
import { loadSettings } from "../../src/config/settings.ts";
import { startMcpRuntime, until } from "../support/mcp-runtime.ts";
import { backendsUnderTest } from "../support/backends.ts";
import { cliHarness } from "../support/cli.ts";

const root = join(import.meta.dirname, "..", "..");
const FILESYSTEM = join(root, "node_modules", "@modelcontextprotocol", "server-filesystem", "dist", "index.js");
const PROBE = join(root, "tests", "fixtures", "mcp", "sandbox-probe-server.mjs");

const base = { source: "test", timeoutMs: 20_000, idempotentTools: [] as string[], trusted: false };
const server = (name: string, args: string[], extra: Partial<StdioServerConfig> = {}): StdioServerConfig => ({
  ...base,
  name,
  transport: "stdio",
  command: "node",
  args,
  env: {},
  cwd: root,
  sandbox: true,
  ...extra,
});

const start = startMcpRuntime;

/** This process's sandboxes for MCP server `name`. */
const sandboxesOf = (runtime: Runtime, name: string) => runtime.store.list().filter((r) => r.owner.pid === process.pid && r.id.startsWith(`mcp-${name}-`));
const textOf = (result: unknown) => (result as { content: Array<{ text: string }> }).content[0]!.text;

function expectGone(record: SandboxRecord): void {
  expect(isAlive(record.process!)).toBe(false);
  expect(existsSync(record.workDir)).toBe(false);
  for (const dir of record.cgroup?.dirs ?? []) expect(existsSync(dir)).toBe(false);
}

describe("what a sandboxed server sees", () => {
  it("runs node as the sandbox's own Node, and shows its cwd and sandboxPaths read-only at the same paths", () => {
    const data = mkdtempSync(join(tmpdir(), "ironclaw-plan-"));
    try {
      const plan = planSandboxedServer(server("files", [FILESYSTEM, data], { sandboxPaths: [data, join(root, "node_modules")] }));
      expect(plan.argv).toEqual([GUEST_NODE, FILESYSTEM, data]);
      expect(plan.cwd).toBe(root);
      // node_modules is inside the project: the project's mount already shows it.
      expect(plan.mounts).toEqual([
        { source: root, target: root },
        { source: data, target: data },
      ]);
      expect(plan.env.PATH).toMatch(/^\/opt\/ironclaw:/);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it("mounts a path anywhere but over the sandbox's own directories (under /tmp and /root is fine)", () => {
    for (const ok of ["/work/project", "/home/me/notes", "/tmp/data", "/root/project", "/srv"]) expect(hostMountProblem(ok)).toBeNull();
    for (const [bad, why] of [
      ["/", /cover the sandbox's own/],
      ["/opt", /cover the sandbox's own \/opt\/ironclaw/],
      ["/tmp", /cover the sandbox's own \/tmp/],
      ["/root", /cover the sandbox's own \/root/],
      ["/etc/ssl", /inside the sandbox's own \/etc/],
      ["/proc/1", /inside the sandbox's own \/proc/],
      ["/opt/ironclaw/x", /inside the sandbox's own \/opt\/ironclaw/],
      ["relative/path", /not a normal absolute path/],
      ["/a/../b", /not a normal absolute path/],
    ] as const) {
      expect(hostMountProblem(bad)).toMatch(why);
    }
  });

  it("refuses, permanently, what a sandbox cannot run or must not be covered with", () => {
    expect(() => planSandboxedServer(server("x", [], { command: "no-such-launcher" }))).toThrow(
      expect.objectContaining({ code: "ENOENT", fatal: true, message: expect.stringMatching(/command not found in the sandbox: no-such-launcher/) }),
    );
    expect(() => planSandboxedServer(server("x", [], { cwd: "/" }))).toThrow(
      expect.objectContaining({ code: "EMOUNT", message: expect.stringMatching(/cwd: \/ cannot be shown to a sandbox/) }),
    );
    expect(() => planSandboxedServer(server("x", [], { sandboxPaths: ["/etc"] }))).toThrow(expect.objectContaining({ code: "EMOUNT", fatal: true }));
  });
});

describe("choosing the sandbox", () => {
  it.each(["qemu", "firecracker"] as const)("refuses %s, which cannot show a sandbox host files, permanently and naming the backends that can", async (backend) => {
    const runtime = start([server("files", [FILESYSTEM, root], { sandboxBackend: backend })]);
    runtime.mcp.connect();
    await expect(runtime.mcp.ready("files")).rejects.toMatchObject({
      message: expect.stringMatching(new RegExp(`^MCP server files: the ${backend} backend cannot show a sandbox host files yet .*use gvisor or namespace$`)),
    });
    // Permanent: not restarted, and no sandbox was made.
    expect(runtime.orchestrator.getSnapshot().context.children.some((c) => c.id === "files")).toBe(false);
    expect(sandboxesOf(runtime, "files")).toEqual([]);
  });
});

describe.each(backendsUnderTest())("sandboxed MCP servers on the %s backend", (backend: BackendName) => {
  const data = mkdtempSync(join(tmpdir(), "ironclaw-mcp-sandboxed-"));
  // A sandbox reads host files as an unprivileged user (docs/security.md): open to others, like a real project.
  chmodSync(data, 0o755);
  let listener: Server;
  let port: number;
  beforeAll(async () => {
    writeFileSync(join(data, "note.txt"), "hello from the host\n");
    listener = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    port = (listener.address() as { port: number }).port;
  });
  afterAll(() => {
    listener.close();
    rmSync(data, { recursive: true, force: true });
  });

  it("server-filesystem lists its tools, reads a file it is given, cannot write there or to the project, and leaves nothing behind", async () => {
    const files = server("files", [FILESYSTEM, data, root], { sandboxBackend: backend, sandboxPaths: [data] });
    const runtime = start([files]);
    runtime.mcp.connect();
    const { tools } = await runtime.mcp.ready("files", 60_000);
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["read_text_file", "write_file", "list_directory"]));

    const [record] = sandboxesOf(runtime, "files");
    expect(record).toMatchObject({
      backend,
      mounts: [
        { source: root, target: root },
        { source: data, target: data },
      ],
    });
    // The CPU limit every sandbox gets by default holds for a server's sandbox too.
    expect(record!.limits).toEqual({ ...MCP_SANDBOX_LIMITS, cpus: loadSettings().sandbox.cpus });

    expect(await runtime.mcp.call("files", "read_text_file", { path: join(data, "note.txt") })).toMatchObject({ content: [{ type: "text", text: "hello from the host\n" }] });
    const inProject = join(root, `ironclaw-sandbox-write-${nanoid(6).replace(/[^A-Za-z0-9]/g, "0")}.txt`);
    try {
      for (const path of [join(data, "new.txt"), inProject]) {
        expect(await runtime.mcp.call("files", "write_file", { path, content: "x" })).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/EROFS|EACCES/) }] });
        expect(existsSync(path)).toBe(false);
      }
    } finally {
      rmSync(inProject, { force: true });
    }

    runtime.orchestrator.send({ type: "SHUTDOWN", reason: "done" });
    await runtime.stopped;
    expect(sandboxesOf(runtime, "files")).toEqual([]);
    expectGone(record!);
  });

  it("has no network: only lo, and the host's loopback listener is out of reach (the same server unsandboxed reaches it)", async () => {
    const runtime = start([server("probe", [PROBE], { sandboxBackend: backend }), server("control", [PROBE], { sandbox: false })]);
    runtime.mcp.connect();
    await Promise.all([runtime.mcp.ready("probe", 60_000), runtime.mcp.ready("control")]);
    expect(textOf(await runtime.mcp.call("control", "connect", { host: "127.0.0.1", port }))).toBe("connected");
    expect(textOf(await runtime.mcp.call("probe", "connect", { host: "127.0.0.1", port }))).toBe("ECONNREFUSED");
    expect(textOf(await runtime.mcp.call("probe", "interfaces", {}))).toBe("lo");
    // Its own /tmp is writable scratch; the project is not.
    expect(textOf(await runtime.mcp.call("probe", "write", { path: "/tmp/scratch.txt" }))).toBe("written");
    // Read-only mount (EROFS), or refused first because the sandbox's ids do not own the directory (EACCES, rootless gVisor).
    expect(textOf(await runtime.mcp.call("probe", "write", { path: join(root, "ironclaw-probe-write.txt") }))).toMatch(/^(EROFS|EACCES)$/);
    expect(existsSync(join(root, "ironclaw-probe-write.txt"))).toBe(false);
  });

  it("reconnects a server that exits in a fresh sandbox, and destroys the old one", async () => {
    const runtime = start([server("probe", [PROBE], { sandboxBackend: backend })]);
    runtime.mcp.connect(undefined, { reconnect: { baseMs: 50, maxMs: 500, maxAttempts: 5 } });
    await runtime.mcp.ready("probe", 60_000);
    const [first] = sandboxesOf(runtime, "probe");
    await expect(runtime.mcp.call("probe", "exit", { code: 3 })).rejects.toMatchObject({ code: "ECONNLOST", message: expect.stringMatching(/exited \(exit 3\) in its sandbox/) });
    expect(await until(() => runtime.mcp.state("probe").state === "ready" && sandboxesOf(runtime, "probe").some((r) => r.id !== first!.id), 60_000)).toBe(true);
    expect(textOf(await runtime.mcp.call("probe", "interfaces", {}))).toBe("lo");
    expect(sandboxesOf(runtime, "probe").map((r) => r.id)).not.toContain(first!.id);
    expectGone(first!);
  });

  it("leaves no sandbox process when IronClaw is SIGKILLed mid-call, and the next mcp command reaps the rest", async () => {
    const { ironclaw, sandboxProcesses, records, until: poll } = cliHarness(`mcp-sandboxed-${backend}`);
    const project = mkdtempSync(join(tmpdir(), "ironclaw-mcp-sandboxed-project-"));
    chmodSync(project, 0o755);
    try {
      mkdirSync(join(project, ".ironclaw"));
      const entry = { command: "node", args: [PROBE], sandbox: true, sandboxBackend: backend, sandboxPaths: [root] };
      writeFileSync(join(project, ".ironclaw", "config.json"), JSON.stringify({ mcpServers: { probe: entry } }));
      expect((await ironclaw(["trust", "--yes"], { cwd: project })).code).toBe(0); // a project's servers start once trusted
      const run = ironclaw(["mcp", "call", "probe", "sleep", "--args", '{"ms":60000}'], {
        cwd: project,
        onSpawn: (child) => {
          void poll(() => records().length > 0 && sandboxProcesses("none").length > 0, Boolean, 30_000)
            .then(() => new Promise((r) => setTimeout(r, 1500))) // the call is in flight
            .then(() => child.kill("SIGKILL"));
        },
      });
      expect((await run).signal).toBe("SIGKILL");
      expect(
        await poll(
          () => sandboxProcesses("none"),
          (p) => p.length === 0,
          5000,
        ),
      ).toEqual([]);
      expect(records().length).toBeGreaterThan(0); // the cgroup and work dir wait for the next start
      const list = await ironclaw(["mcp", "list", "--json"], { cwd: project });
      expect(JSON.parse(list.stdout).servers).toEqual([expect.objectContaining({ name: "probe", transport: `stdio/sandbox:${backend}`, state: "ready" })]);
      expect(records()).toEqual([]);
      expect(sandboxProcesses("none")).toEqual([]);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
