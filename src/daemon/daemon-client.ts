// IronclawService through a running daemon: each call is one request on a connection of its
// own, its replies streamed back. This is all an `ironclaw exec` through the daemon loads: no
// runtime, machines, drivers or MCP SDK (tests/unit/daemon-client-imports.test.ts holds it to that).
import { connect, type Socket } from "node:net";
import type { ActorRefFrom } from "xstate";
import { McpHubError, UsageError } from "../../core/errors.ts";
import type { agentSessionMachine, SessionInput, SessionOutput } from "../../machines/agent-session.machine.ts";
import type { ExecListener, ExecReport, ExecSpec, IronclawService, McpCallOptions, PoolStats, ServiceStatus } from "../service/ironclaw-service.ts";
import { decodeDaemonMessage, type ClientMessage, type DaemonMessage } from "./daemon-protocol.ts";
import { daemonSocketPath } from "./daemon-paths.ts";
import { readMessages, send } from "./framed-socket.ts";
import { DaemonError } from "../../core/errors.ts";

/** Connects to a running daemon; null when none answers (no socket, or a stale one). */
export function connectDaemon(path = daemonSocketPath()): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => resolve(socket));
    socket.once("error", () => resolve(null));
  });
}

type Reply<T extends DaemonMessage["type"]> = Extract<DaemonMessage, { type: T }>;

export class DaemonClient implements IronclawService {
  readonly path = "daemon";
  private readonly socketPath: string;
  /** The connection made to find the daemon, kept for the first request. */
  private spare: Socket | null;

  private constructor(socketPath: string, first: Socket) {
    this.socketPath = socketPath;
    // Unused, it must not keep the process alive (a client that is never asked anything).
    this.spare = first.unref();
  }

  /** A client of the daemon answering on `path`, or null when none does. */
  static async connect(path = daemonSocketPath()): Promise<DaemonClient | null> {
    const socket = await connectDaemon(path);
    return socket && new DaemonClient(path, socket);
  }

  /**
   * Sends one request and calls `onMessage` for every reply until the daemon closes the
   * connection; rejects if it goes away mid-request, breaks protocol or answers with an error.
   * Aborting `signal` closes the connection, which cancels the request at the daemon.
   */
  private async request(message: ClientMessage, onMessage: (m: DaemonMessage) => void = () => {}, signal?: AbortSignal): Promise<void> {
    const socket = this.spare ?? (await connectDaemon(this.socketPath));
    this.spare = null;
    if (!socket) throw new DaemonError("ENODAEMON", "the daemon is no longer running");
    socket.ref();
    await new Promise<void>((resolve, reject) => {
      let failed: Error | null = null;
      readMessages(
        socket,
        decodeDaemonMessage,
        (m) => {
          if (m.type === "error") failed ??= replyError(m.code, m.message);
          else onMessage(m);
        },
        (error) => (failed = new DaemonError("EPROTO", `the daemon sent an invalid message: ${error}`)),
      );
      socket.once("error", (e) => (failed ??= new DaemonError("EPIPE", `lost the daemon: ${e.message}`)));
      socket.once("close", () => (failed ? reject(failed) : resolve()));
      const abort = () => socket.destroy();
      if (signal?.aborted) abort();
      else signal?.addEventListener("abort", abort, { once: true });
      send(socket, message);
    });
  }

  /** A request with one answer of the given type. */
  private async answer<T extends DaemonMessage["type"]>(message: ClientMessage, type: T): Promise<Reply<T>> {
    const replies: DaemonMessage[] = [];
    await this.request(message, (m) => replies.push(m));
    const reply = replies.find((m): m is Reply<T> => m.type === type);
    if (!reply) throw new DaemonError("EPROTO", `the daemon did not answer ${message.type}`);
    return reply;
  }

  async exec(spec: ExecSpec, listener: ExecListener = {}, signal?: AbortSignal): Promise<ExecReport> {
    const reports: ExecReport[] = [];
    await this.request(
      { type: "exec", ...spec },
      (m) => {
        if (m.type === "ready") listener.ready?.(m);
        else if (m.type === "output") listener.output?.(m.stream, m.data);
        else if (m.type === "done") reports.push({ backend: m.backend, passedOver: m.passedOver, limits: m.limits, outcome: m.outcome });
      },
      signal,
    );
    const [report] = reports;
    if (!report) throw new DaemonError("EPIPE", "the daemon ended the exec without an outcome");
    return report;
  }

  async status(): Promise<ServiceStatus> {
    const { type: _type, ...status } = await this.answer({ type: "status" }, "status");
    return status;
  }

  readonly pool = {
    warm: async (options: { backend?: string; size?: number }): Promise<void> => {
      await this.answer({ type: "pool.warm", ...(options.backend && { backend: options.backend }), ...(options.size !== undefined && { size: options.size }) }, "ok");
    },
    stats: async (): Promise<PoolStats> => {
      const { type: _type, ...stats } = await this.answer({ type: "pool.stats" }, "pool.stats");
      return stats;
    },
  };

  readonly mcp = {
    list: async () => {
      const { projectDir, servers } = await mcpErrors(this.answer({ type: "mcp.list" }, "mcp.servers"));
      return { projectDir, servers };
    },
    tools: async (server: string) => (await mcpErrors(this.answer({ type: "mcp.tools", server }, "mcp.tools"))).tools,
    call: async (server: string, tool: string, args: Readonly<Record<string, unknown>>, options: McpCallOptions = {}) => {
      const results: { result: unknown }[] = [];
      await mcpErrors(
        this.request(
          { type: "mcp.call", server, tool, args: { ...args }, ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }) },
          (m) => {
            if (m.type === "mcp.progress") options.onProgress?.(m);
            else if (m.type === "mcp.result") results.push(m);
          },
          options.signal,
        ),
      );
      const [done] = results;
      if (!done) throw new McpHubError("EPIPE", `the daemon ended the call of ${tool} without a result`);
      return done.result;
    },
  };

  async inspect() {
    const { url, mode } = await this.answer({ type: "inspect" }, "inspector");
    return { url, mode };
  }

  /** Stops the daemon (it destroys every sandbox before it lets go of its socket). */
  async shutdown(): Promise<void> {
    await this.answer({ type: "shutdown" }, "ok");
  }

  run(_input: SessionInput, _watch?: (session: ActorRefFrom<typeof agentSessionMachine>) => void): Promise<SessionOutput | null> {
    return Promise.reject(new DaemonError("ENOTSUPPORTED", "the daemon does not run agent sessions: `ironclaw run` runs in its own process"));
  }
}

/** A daemon's error reply as the error the same failure is in process: a usage error stays one. */
function replyError(code: string, message: string): Error {
  return code === "EUSAGE" || code === "ENOTOOL" || code === "ENOCONFIG" ? new UsageError(message) : new DaemonError(code, message);
}

/** For MCP requests: whatever the daemon could not do is the MCP server being unavailable, as in process. */
async function mcpErrors<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (err) {
    throw err instanceof DaemonError ? new McpHubError(err.code, err.message) : err;
  }
}
