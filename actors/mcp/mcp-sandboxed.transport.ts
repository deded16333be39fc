// A stdio MCP server run inside an IronClaw sandbox: the SDK's newline-delimited JSON-RPC, but
// carried over the guest agent's interactive exec instead of a host process's pipes. start()
// provisions and boots a sandbox that sees the server's own files read-only (its cwd, the
// directory of an absolute command, the entry's sandboxPaths) and no network, then runs the
// command in it; close() ends the server's stdin, gives it a moment, kills it, and destroys the
// sandbox (record, work dir, cgroup, processes). A server that exits, or a sandbox that dies,
// closes the transport, and the connection actor reconnects in a fresh sandbox.
//
// The sandbox belongs to this transport, and so to the connection actor's session, rather than
// to a vm actor of the orchestrator: a vm actor runs one job to its end, and an MCP server is a
// conversation as long as the connection. The destruction guarantee holds all the same, through
// the layers below the statechart (docs/architecture.md): the record is written before the
// resource and names this process as owner, the session is closed on every path out of the
// connection machine (closing, reconnecting, a failed connect), a crashed connection actor is
// reaped by the runtime (sandboxesHeld reads the session's sandboxId), the runtime destroys
// every sandbox this process still records when the orchestrator stops and kills them on exit,
// the sandbox binary dies with IronClaw (parent-death signal), and the next start reaps.
import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute } from "node:path";
import { nanoid } from "nanoid";
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import { GUEST_ENV } from "../../guest-agent/guest-protocol.ts";
import type { StdioServerConfig } from "../../core/mcp-server.ts";
import type { InteractiveExec } from "../guest/guest-channel.ts";
import { resolveCommand } from "./mcp-stdio.transport.ts";
import type { BackendName } from "../../core/backend.ts";
import type { HostMount, SandboxDriver, SandboxLimits } from "../sandbox/sandbox-driver.ts";
import { SandboxLease } from "../sandbox/sandbox-lease.ts";
import { GUEST_NODE, hostMountProblem, seenByEverySandbox } from "../sandbox/sandbox-view.ts";
import { McpConnectError, SandboxError } from "../../core/errors.ts";

/** How the transport gets a driver: the one asked for, else the strongest that can mount host paths. */
export type SelectSandboxDriver = (requested: BackendName | undefined) => Promise<SandboxDriver>;

/** A sandboxed server's memory and processes: room for a Node server and its children (its CPU limit is the runtime's default). */
export const MCP_SANDBOX_LIMITS: SandboxLimits = { memoryMiB: 512, pidsMax: 256 };
/** After its stdin is closed, how long the server gets to exit on its own before it is killed. */
const EXIT_GRACE_MS = 1000;
const STDERR_KEEP = 4096;
/** Launchers that fetch what they run: in a sandbox (no network) only what is installed works. */
const FETCHING_LAUNCHERS = new Set(["npx", "uvx", "pipx", "bunx", "pnpx"]);

export interface SandboxedServerPlan {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly HostMount[];
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * What runs in the sandbox and what it sees: `node` is the sandbox's own Node (the one the guest
 * agent runs on); an absolute command runs at its own path, its directory shown read-only; any
 * other command must be found on the sandbox's PATH in the host runtime every sandbox sees (/usr).
 * The cwd and sandboxPaths are shown read-only at the same paths (and at their real paths, when
 * symlinks lead elsewhere). Every problem is permanent: retrying cannot fix a config.
 */
export function planSandboxedServer(server: StdioServerConfig): SandboxedServerPlan {
  const fail = (code: string, message: string): never => {
    throw new McpConnectError(code, `MCP server ${server.name}: ${message}`, true);
  };
  const wanted: Array<{ path: string; key: string }> = [{ path: server.cwd, key: "cwd" }];
  let program: string;
  if (server.command === "node") program = GUEST_NODE;
  else if (isAbsolute(server.command)) {
    if (!isExecutable(server.command)) fail("ENOENT", `command not found (or not executable): ${server.command}`);
    program = server.command;
    wanted.push({ path: dirname(server.command), key: "command" });
  } else {
    const found = resolveCommand(server.command, GUEST_ENV.PATH);
    if (!found || !seenByEverySandbox(found)) {
      fail(
        "ENOENT",
        `command not found in the sandbox: ${server.command} (a sandboxed server sees the host's /usr, its cwd and its sandboxPaths; install the server in the project and run it with node)`,
      );
    }
    program = found!;
  }
  (server.sandboxPaths ?? []).forEach((path, i) => wanted.push({ path, key: `sandboxPaths[${i}]` }));

  const mounts: HostMount[] = [];
  for (const { path, key } of wanted) {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      return fail("ENOENT", `${key}: ${path} does not exist`);
    }
    for (const target of new Set([real, path])) {
      if (seenByEverySandbox(target)) continue;
      const problem = hostMountProblem(target);
      if (problem) fail("EMOUNT", `${key}: ${target} cannot be shown to a sandbox: it ${problem}`);
      mounts.push({ source: real, target });
    }
  }
  return {
    argv: [program, ...server.args],
    cwd: server.cwd,
    // The sandbox's Node first on PATH, so a server that starts `node` gets the same one.
    env: { ...GUEST_ENV, PATH: `${dirname(GUEST_NODE)}:${GUEST_ENV.PATH}`, ...server.env },
    mounts: withoutNested(mounts),
  };
}

/** Drops a mount that one above it already shows at the same place (same relative path on both sides). */
function withoutNested(mounts: readonly HostMount[]): HostMount[] {
  const sorted = [...new Map(mounts.map((m) => [m.target, m])).values()].sort((a, b) => a.target.length - b.target.length);
  const kept: HostMount[] = [];
  for (const m of sorted) {
    const covered = kept.some((k) => m.target.startsWith(`${k.target}/`) && m.source === k.source + m.target.slice(k.target.length));
    if (!covered) kept.push(m);
  }
  return kept;
}

export class McpSandboxedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport["onmessage"];

  private readonly server: StdioServerConfig;
  private readonly select: SelectSandboxDriver;
  private readonly log: Logger | undefined;
  private readonly limits: () => SandboxLimits;
  private readonly buffer = new ReadBuffer();
  private readonly abort = new AbortController();
  /** The sandbox, from provision until the transport closes. */
  private lease: SandboxLease | null = null;
  private proc: InteractiveExec | null = null;
  private starting: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private stderr = "";
  private reason = "the transport was closed";

  /** `limits` is asked at each start: a reconnect picks up settings changed meanwhile. */
  constructor(server: StdioServerConfig, select: SelectSandboxDriver, log?: Logger, limits: () => SandboxLimits = () => MCP_SANDBOX_LIMITS) {
    this.server = server;
    this.select = select;
    this.log = log;
    this.limits = limits;
  }

  /** The sandbox this server runs in, while it exists (for the runtime's reaping). */
  get sandboxId(): string | null {
    return this.lease?.id ?? null;
  }

  start(): Promise<void> {
    if (this.starting) return Promise.reject(new Error("McpSandboxedTransport already started"));
    this.starting = this.run();
    return this.starting;
  }

  private async run(): Promise<void> {
    const plan = planSandboxedServer(this.server);
    const signal = this.abort.signal;
    let driver: SandboxDriver;
    let limits: SandboxLimits;
    try {
      limits = this.limits();
    } catch (err) {
      // A setting out of range (IRONCLAW_CPUS): retrying cannot fix it.
      throw new McpConnectError("ESETTINGS", `MCP server ${this.server.name}: ${(err as Error).message}`, true);
    }
    try {
      driver = await this.select(this.server.sandboxBackend);
    } catch (err) {
      throw new McpConnectError("EBACKEND", `MCP server ${this.server.name}: ${(err as Error).message}`, true);
    }
    const id = `mcp-${this.server.name.slice(0, 32)}-${nanoid(8).replace(/[^A-Za-z0-9]/g, "0")}`;
    const lease = new SandboxLease(driver, id);
    this.lease = lease;
    try {
      await lease.provision({ limits, mounts: plan.mounts }, signal);
      const sandbox = await lease.boot(signal);
      signal.throwIfAborted();
      this.log?.info({ sandbox: id, isolation: sandbox.isolation, mounts: plan.mounts.map((m) => m.target) }, "sandboxed MCP server starting");
      const proc = sandbox.channel.execInteractive({ argv: plan.argv, cwd: plan.cwd, env: plan.env }, (stream, data) => this.output(stream, data));
      this.proc = proc;
      proc.exit.then(
        (exit) => this.ended(`the server exited (${exit.signal ?? `exit ${exit.code}`}) in its sandbox`),
        (err: Error) => {
          this.keepStderr(`${err.message}\n`);
          this.ended(`the server could not run in its sandbox: ${err.message}`);
        },
      );
    } catch (err) {
      await this.teardown();
      if (signal.aborted) throw new McpConnectError("ECANCELED", `MCP server ${this.server.name}: closed while its sandbox was starting`, false);
      if (err instanceof SandboxError && err.code === "EBACKEND") throw new McpConnectError("EBACKEND", `MCP server ${this.server.name}: ${err.message}`, true);
      throw new McpConnectError("ESANDBOX", `MCP server ${this.server.name}: its ${driver.backend} sandbox did not start: ${(err as Error).message}`, false);
    }
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (!this.proc || this.closing) throw new Error("Not connected");
    await this.proc.write(Buffer.from(serializeMessage(message), "utf8"));
  }

  private output(stream: "stdout" | "stderr", data: Buffer): void {
    if (this.closing) return;
    if (stream === "stderr") return this.keepStderr(data.toString("utf8"));
    try {
      this.buffer.append(data);
    } catch (err) {
      // A line longer than the SDK's buffer limit: the server is broken (or hostile), and memory is ours.
      this.onerror?.(err as Error);
      this.ended(`the server broke the stdio framing: ${(err as Error).message}`);
      return;
    }
    for (;;) {
      try {
        const message = this.buffer.readMessage();
        if (message === null) break;
        this.onmessage?.(message);
      } catch (err) {
        this.onerror?.(err as Error); // a line that is not JSON-RPC: reported, and the stream goes on
      }
    }
  }

  private keepStderr(text: string): void {
    this.stderr = (this.stderr + text).slice(-STDERR_KEEP);
  }

  private ended(reason: string): void {
    if (this.closing) return;
    this.reason = reason;
    void this.close();
  }

  /** Ends the server's stdin, waits briefly for it to exit, kills it, destroys the sandbox; once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.abort.abort();
      await this.starting?.catch(() => {});
      const proc = this.proc;
      if (proc) {
        await Promise.race([proc.end().then(() => proc.exit), sleep(EXIT_GRACE_MS)]).catch(() => {});
        proc.cancel();
      }
      await this.teardown();
      this.buffer.clear();
      this.onclose?.();
    })();
    return this.closing;
  }

  private async teardown(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    if (!lease?.record()) return; // nothing was made
    try {
      await lease.release();
      this.log?.info({ sandbox: lease.id }, "sandboxed MCP server's sandbox destroyed");
    } catch (err) {
      // The runtime's sweep (its record is still there) tries again before it reports stopped.
      this.log?.error({ sandbox: lease.id, err }, "destroying a sandboxed MCP server's sandbox failed");
    }
  }

  /** Why the transport closed, for the connection's lastError. */
  closeReason(): string {
    return this.reason;
  }

  /** Recent stderr of the server (and why it could not start), for error messages. */
  stderrTail(): string {
    const hint = FETCHING_LAUNCHERS.has(basename(this.server.command))
      ? `\n${this.server.command} fetches packages, and a sandbox has no network: install the server in the project and run it with node`
      : "";
    return this.stderr + hint;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
