// The SDK's stdio transport, started the way IronClaw starts every process it owns: the
// command resolved on PATH first (so "not found" is an error, not a server that closed), argv
// straight to spawn with no shell, the environment limited to what the config names plus the
// SDK's small safe set, the server in a process group of its own (launchers such as npx fork
// the real server: the whole group is killed on close) and, where util-linux is present, with
// a parent-death signal so IronClaw's own death takes the launcher with it.
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { StdioServerConfig } from "../../core/mcp-server.ts";
import { McpConnectError } from "../../core/errors.ts";

const SETPRIV = "/usr/bin/setpriv";
const SETSID = "/usr/bin/setsid";
const STDERR_KEEP = 4096;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path `command` runs as, looked up on `pathVar` like execvp would; null if none. */
export function resolveCommand(command: string, pathVar: string | undefined): string | null {
  if (isAbsolute(command)) return executable(command) ? command : null;
  for (const dir of (pathVar ?? "").split(delimiter)) {
    if (dir && executable(join(dir, command))) return join(dir, command);
  }
  return null;
}

export class McpStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport["onmessage"];

  private readonly server: StdioServerConfig;
  private inner: StdioClientTransport | null = null;
  private stderr = "";

  constructor(server: StdioServerConfig) {
    this.server = server;
  }

  async start(): Promise<void> {
    const env = { ...getDefaultEnvironment(), ...this.server.env };
    const program = resolveCommand(this.server.command, env.PATH);
    if (!program) {
      throw new McpConnectError("ENOENT", `MCP server ${this.server.name}: command not found: ${this.server.command} (PATH=${env.PATH ?? ""})`, true);
    }
    const wrapped = [...(existsSync(SETPRIV) ? [SETPRIV, "--pdeathsig", "KILL", "--"] : []), ...(existsSync(SETSID) ? [SETSID] : []), program, ...this.server.args];
    this.inner = new StdioClientTransport({ command: wrapped[0]!, args: wrapped.slice(1), env: this.server.env, cwd: this.server.cwd, stderr: "pipe" });
    this.inner.onclose = () => this.onclose?.();
    this.inner.onerror = (e) => this.onerror?.(e);
    this.inner.onmessage = (message) => this.onmessage?.(message);
    this.inner.stderr?.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-STDERR_KEEP);
    });
    await this.inner.start();
  }

  send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (!this.inner) return Promise.reject(new Error("transport not started"));
    return this.inner.send(message);
  }

  /** The MCP stdio shutdown (close stdin, then SIGTERM, then SIGKILL), then whatever is left of the group. */
  async close(): Promise<void> {
    const pid = this.inner?.pid ?? null;
    await this.inner?.close();
    if (pid !== null && existsSync(SETSID)) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // the group is already gone
      }
    }
  }

  get pid(): number | null {
    return this.inner?.pid ?? null;
  }

  stderrTail(): string {
    return this.stderr;
  }
}
