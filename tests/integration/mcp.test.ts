// MCP connections against real servers from npm — server-everything over stdio and over
// Streamable HTTP (on 127.0.0.1), server-filesystem — and faults caused for real: the server
// killed mid-call, garbage on its stdout, a slow tool, a flood of notifications (these from
// tests/fixtures/mcp/faulty-server.mjs, an SDK server that misbehaves on purpose).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nanoid } from "nanoid";
import type { HttpServerConfig, StdioServerConfig } from "../../core/mcp-server.ts";
import { startMcpRuntime, until } from "../support/mcp-runtime.ts";

const root = join(import.meta.dirname, "..", "..");
const modules = join(root, "node_modules", "@modelcontextprotocol");
const EVERYTHING = join(modules, "server-everything", "dist", "index.js");
const FILESYSTEM = join(modules, "server-filesystem", "dist", "index.js");
const FAULTY = join(root, "tests", "fixtures", "mcp", "faulty-server.mjs");

const base = { source: "test", timeoutMs: 10_000, idempotentTools: [] as string[], trusted: false };
/** A marker argument (ignored by the servers) that finds the server's processes with ps. */
const stdio = (name: string, args: string[], extra: Partial<StdioServerConfig> = {}): StdioServerConfig & { marker: string } => {
  const marker = `--ironclaw-test-${nanoid(8).replace(/[^A-Za-z0-9]/g, "0")}`;
  return { ...base, name, transport: "stdio", command: process.execPath, args: [...args, marker], env: {}, cwd: root, sandbox: false, marker, ...extra };
};

const processesWith = (marker: string) =>
  execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(marker) && !l.includes("ps -eo"))
    .map((l) => Number(l.trim().split(/\s+/)[0]));

const start = startMcpRuntime;

describe("MCP over stdio: server-everything", () => {
  it("lists its tools, calls echo, reports progress, and leaves no process behind", async () => {
    const server = stdio("everything", [EVERYTHING, "stdio"]);
    const runtime = start([server]);
    runtime.mcp.connect();
    const { tools } = await runtime.mcp.ready("everything");
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["echo", "get-sum", "trigger-long-running-operation"]));
    expect(await runtime.mcp.call("everything", "echo", { message: "hi" })).toEqual({ content: [{ type: "text", text: "Echo: hi" }] });
    const progress: number[] = [];
    await runtime.mcp.call("everything", "trigger-long-running-operation", { duration: 0.3, steps: 3 }, { onProgress: (p) => progress.push(p.progress) });
    // In order; the server does not wait for its last notification to go out before it answers,
    // so the SDK may drop that one as late.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress).toEqual([1, 2, 3].slice(0, progress.length));
    expect(processesWith(server.marker).length).toBeGreaterThan(0);
    runtime.orchestrator.send({ type: "SHUTDOWN", reason: "done" });
    await runtime.stopped;
    expect(await until(() => processesWith(server.marker).length === 0)).toBe(true);
  });

  it("fails the call in flight clearly when the server is killed, reconnects with backoff, and serves the next call", async () => {
    const server = stdio("everything", [EVERYTHING, "stdio"]);
    const runtime = start([server]);
    runtime.mcp.connect(undefined, { reconnect: { baseMs: 50, maxMs: 500, maxAttempts: 5 } });
    await runtime.mcp.ready("everything");
    const states: string[] = [];
    const ref = runtime.orchestrator.getSnapshot().children.everything!;
    ref.subscribe((s) => states.push(JSON.stringify((s as { value: unknown }).value)));
    const inFlight = runtime.mcp.call("everything", "trigger-long-running-operation", { duration: 20, steps: 20 });
    await until(() => processesWith(server.marker).length > 0);
    for (const pid of processesWith(server.marker)) process.kill(pid, "SIGKILL");
    await expect(inFlight).rejects.toMatchObject({
      code: "ECONNLOST",
      message: expect.stringMatching(/connection to MCP server everything was lost during trigger-long-running-operation .*may or may not have run/),
    });
    expect(await until(() => runtime.mcp.state("everything").state === "ready")).toBe(true);
    expect(states).toContain('"reconnecting"');
    expect(await runtime.mcp.call("everything", "echo", { message: "back" })).toEqual({ content: [{ type: "text", text: "Echo: back" }] });
  });

  it("sends an idempotent tool's call again after a reconnect instead of failing it", async () => {
    const server = { ...stdio("faulty", [FAULTY, "normal"]), idempotentTools: ["sleep"] };
    const runtime = start([server]);
    runtime.mcp.connect(undefined, { reconnect: { baseMs: 50, maxMs: 500, maxAttempts: 5 } });
    await runtime.mcp.ready("faulty");
    const first = processesWith(server.marker);
    const call = runtime.mcp.call("faulty", "sleep", { ms: 1500 });
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of first) process.kill(pid, "SIGKILL");
    expect(await call).toEqual({ content: [{ type: "text", text: "awake" }] });
    expect(processesWith(server.marker).some((pid) => !first.includes(pid))).toBe(true); // answered by the new process
  });

  it("refuses a server that answers initialize with a protocol version the SDK does not speak, at once and by code", async () => {
    const runtime = start([stdio("faulty", [FAULTY, "future-version"])]);
    runtime.mcp.connect(undefined, { reconnect: { baseMs: 50, maxMs: 500, maxAttempts: 5 } });
    await expect(runtime.mcp.ready("faulty")).rejects.toMatchObject({
      code: "EPROTO",
      message: expect.stringMatching(/speaks MCP "2099-01-01"; IronClaw speaks .*: update the server or IronClaw/),
    });
  });

  it("times out a slow call and keeps the connection", async () => {
    const runtime = start([stdio("faulty", [FAULTY, "normal"])]);
    runtime.mcp.connect();
    await runtime.mcp.ready("faulty");
    await expect(runtime.mcp.call("faulty", "sleep", { ms: 30_000 }, { timeoutMs: 300 })).rejects.toMatchObject({
      code: "ETIMEDOUT",
      message: "sleep on MCP server faulty did not answer within 300 ms",
    });
    expect(runtime.mcp.state("faulty").state).toBe("ready");
    expect(await runtime.mcp.call("faulty", "add", { a: 2, b: 3 })).toEqual({ content: [{ type: "text", text: "5" }] });
  });

  it("cancels a call (notifications/cancelled) and keeps the connection", async () => {
    const runtime = start([stdio("faulty", [FAULTY, "normal"])]);
    runtime.mcp.connect();
    await runtime.mcp.ready("faulty");
    const abort = new AbortController();
    const call = runtime.mcp.call("faulty", "sleep", { ms: 30_000 }, { signal: abort.signal });
    setTimeout(() => abort.abort(), 100);
    await expect(call).rejects.toMatchObject({ code: "ECANCELED" });
    expect(await runtime.mcp.call("faulty", "add", { a: 1, b: 1 })).toEqual({ content: [{ type: "text", text: "2" }] });
  });

  it("survives garbage on the server's stdout between real answers", async () => {
    const runtime = start([stdio("faulty", [FAULTY, "garbage-first"])]);
    runtime.mcp.connect();
    expect((await runtime.mcp.ready("faulty")).tools.map((t) => t.name)).toEqual(["flood", "sleep", "add", "progress", "change-tools", "sample", "peek"]);
    expect(await runtime.mcp.call("faulty", "add", { a: 20, b: 22 })).toEqual({ content: [{ type: "text", text: "42" }] });
  });

  it("fails cleanly, within its attempts, on a server that only writes garbage", async () => {
    const server = stdio("faulty", [FAULTY, "garbage-only"]);
    const runtime = start([server]);
    runtime.mcp.connect(undefined, { timeouts: { connectMs: 500 }, reconnect: { baseMs: 20, maxMs: 100, maxAttempts: 2 } });
    await expect(runtime.mcp.ready("faulty")).rejects.toMatchObject({ message: expect.stringMatching(/faulty/) });
    expect(runtime.orchestrator.getSnapshot().status).toBe("active"); // one broken server takes nothing else down
    runtime.orchestrator.send({ type: "SHUTDOWN", reason: "done" });
    await runtime.stopped;
    expect(await until(() => processesWith(server.marker).length === 0)).toBe(true);
  });

  it("stays responsive under a flood of notifications", async () => {
    const runtime = start([stdio("faulty", [FAULTY, "normal"])]);
    runtime.mcp.connect();
    await runtime.mcp.ready("faulty");
    const flood = runtime.mcp.call("faulty", "flood", { count: 20_000 });
    expect(await runtime.mcp.call("faulty", "add", { a: 1, b: 2 })).toEqual({ content: [{ type: "text", text: "3" }] });
    expect(await flood).toEqual({ content: [{ type: "text", text: "sent 20000" }] });
  });

  it("refuses a server's sampling request: no model is configured", async () => {
    const runtime = start([stdio("faulty", [FAULTY, "normal"])]);
    runtime.mcp.connect();
    await runtime.mcp.ready("faulty");
    expect(await runtime.mcp.call("faulty", "sample", {})).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/^sampling refused: .*sampling/i) }] });
  });

  it("says clearly when the command does not exist, and does not retry it", async () => {
    const runtime = start([{ ...stdio("missing", []), command: "no-such-mcp-server" }]);
    runtime.mcp.connect();
    await expect(runtime.mcp.ready("missing")).rejects.toMatchObject({
      code: "ENOENT",
      message: expect.stringMatching(/^MCP server missing: command not found: no-such-mcp-server/),
    });
    // A permanent failure is not restarted.
    expect(runtime.orchestrator.getSnapshot().context.children.some((c) => c.id === "missing")).toBe(false);
  });
});

/** Starts an HTTP fixture server for the describe block; `url()` is where it listens. */
function httpFixture(file: string): { url: () => string } {
  let server: ChildProcess;
  let url = "";
  beforeAll(async () => {
    server = spawn(process.execPath, [join(root, "tests", "fixtures", "mcp", file)], { stdio: ["ignore", "pipe", "inherit"] });
    url = await new Promise<string>((resolve) => createInterface({ input: server.stdout! }).once("line", resolve));
  });
  afterAll(() => {
    server.kill("SIGTERM");
  });
  return { url: () => url };
}

describe("MCP over Streamable HTTP: server-everything on 127.0.0.1", () => {
  const fixture = httpFixture("everything-http.mjs");

  it("connects, lists tools and calls them", async () => {
    const config: HttpServerConfig = { ...base, name: "remote", transport: "http", url: new URL(fixture.url()), headers: {}, legacySse: false, oauth: null };
    const runtime = start([config]);
    runtime.mcp.connect();
    const { tools } = await runtime.mcp.ready("remote");
    expect(tools.map((t) => t.name)).toContain("get-sum");
    expect(await runtime.mcp.call("remote", "get-sum", { a: 2, b: 40 })).toMatchObject({ content: [{ type: "text", text: expect.stringContaining("42") }] });
  });

  it("fails permanently with a clear message when the server refuses", async () => {
    const config: HttpServerConfig = { ...base, name: "wrong", transport: "http", url: new URL("/nope", fixture.url()), headers: {}, legacySse: true, oauth: null };
    const runtime = start([config]);
    runtime.mcp.connect(undefined, { reconnect: { baseMs: 20, maxMs: 50, maxAttempts: 2 } });
    await expect(runtime.mcp.ready("wrong")).rejects.toMatchObject({ message: expect.stringMatching(/wrong/) });
  });
});

describe("MCP over the legacy HTTP+SSE transport: server-everything on 127.0.0.1", () => {
  const fixture = httpFixture("everything-sse.mjs");

  it("falls back to SSE when the Streamable HTTP POST gets a 4xx", async () => {
    const config: HttpServerConfig = { ...base, name: "old", transport: "http", url: new URL(fixture.url()), headers: {}, legacySse: false, oauth: null };
    const runtime = start([config]);
    runtime.mcp.connect();
    expect((await runtime.mcp.ready("old")).tools.map((t) => t.name)).toContain("echo");
    expect(await runtime.mcp.call("old", "echo", { message: "over sse" })).toEqual({ content: [{ type: "text", text: "Echo: over sse" }] });
  });
});

describe("MCP: server-filesystem", () => {
  const dir = mkdtempSync(join(tmpdir(), "ironclaw-mcp-fs-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a file inside its allowed directory and refuses one outside", async () => {
    writeFileSync(join(dir, "note.txt"), "hello from the host\n");
    const runtime = start([stdio("files", [FILESYSTEM, dir])]);
    runtime.mcp.connect();
    await runtime.mcp.ready("files");
    expect(await runtime.mcp.call("files", "read_text_file", { path: join(dir, "note.txt") })).toMatchObject({ content: [{ type: "text", text: "hello from the host\n" }] });
    expect(await runtime.mcp.call("files", "read_text_file", { path: "/etc/hostname" })).toMatchObject({ isError: true });
  });
});
