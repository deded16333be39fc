// One live MCP client session over the SDK: the transport the config asks for (stdio, in a
// sandbox when the entry says so, or Streamable HTTP falling back to the legacy HTTP+SSE
// transport on a 4xx), the initialize
// handshake, and the server's notifications wired to what IronClaw does with them — log
// messages to pino, tools/list_changed to whoever watches, elicitation requests to the user.
// Sampling is not offered: without a model there is nothing to answer it with, and a server
// that asks anyway is told so.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  ElicitRequestSchema,
  ErrorCode,
  McpError,
  type ElicitRequest,
  type ElicitResult,
  LoggingMessageNotificationSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import type { HttpServerConfig, McpServerConfig, StdioServerConfig } from "../../core/mcp-server.ts";
import type { IronclawOAuthProvider } from "./mcp-oauth.ts";
import { McpSandboxedTransport, type SelectSandboxDriver } from "./mcp-sandboxed.transport.ts";
import { McpStdioTransport } from "./mcp-stdio.transport.ts";
import type { SandboxLimits } from "../sandbox/sandbox-driver.ts";
import { McpConnectError } from "../../core/errors.ts";
import { VERSION } from "../../core/version.ts";

export const CLIENT_INFO = { name: "ironclaw", version: VERSION } as const;

/** Asks the user for what an elicitation request wants; resolves with their answer (or decline/cancel). */
export type ElicitHandler = (server: string, request: ElicitRequest["params"]) => Promise<ElicitResult>;

export interface SessionHooks {
  readonly logger: Logger;
  readonly elicit?: ElicitHandler;
  /** For remote servers that need OAuth: the provider that holds this server's client and tokens. */
  readonly oauth?: (server: HttpServerConfig) => IronclawOAuthProvider | undefined;
  /** For servers with `sandbox: true`: picks the backend their sandbox runs on. */
  readonly sandbox?: SelectSandboxDriver;
  /** For servers with `sandbox: true`: the limits of their sandbox (default MCP_SANDBOX_LIMITS, no CPU quota). */
  readonly sandboxLimits?: () => SandboxLimits;
}

export interface McpSession {
  readonly server: McpServerConfig;
  readonly client: Client;
  /** Resolves with the reason once the transport has closed, for whatever reason. */
  readonly closed: Promise<string>;
  onToolsChanged(listener: () => void): () => void;
  /**
   * Runs a request; when the server answers 401/403 and the OAuth flow has produced a code
   * (a first login, or a step-up to more scopes), finishes the authorization and tries again.
   */
  withAuth<T>(op: () => Promise<T>): Promise<T>;
  /** Recent stderr of a local server, for error messages. */
  diagnostics(): string;
  /** The sandbox a sandboxed server runs in, while it exists; null for any other server. */
  sandboxId(): string | null;
  close(): Promise<void>;
}

const LOG_LEVELS = {
  debug: "debug",
  info: "info",
  notice: "info",
  warning: "warn",
  error: "error",
  critical: "error",
  alert: "fatal",
  emergency: "fatal",
} as const;

/** At most this many authorizations per request: a server that keeps refusing is not asked forever. */
const MAX_AUTH_ROUNDS = 3;

async function authorized<T>(provider: IronclawOAuthProvider | undefined, transport: () => Transport, op: () => Promise<T>): Promise<T> {
  for (let round = 1; ; round++) {
    try {
      return await op();
    } catch (err) {
      const code = provider?.takeCode();
      const t = transport() as Transport & { finishAuth?: (code: string) => Promise<void> };
      if (!(err instanceof UnauthorizedError) || !code || !t.finishAuth || round >= MAX_AUTH_ROUNDS) throw err;
      await t.finishAuth(code);
    }
  }
}

function httpTransports(server: HttpServerConfig, authProvider: IronclawOAuthProvider | undefined): { primary: () => Transport; fallback: () => Transport } {
  const requestInit = { headers: { ...server.headers } };
  const sse = () => new SSEClientTransport(server.url, { requestInit, ...(authProvider && { authProvider }) });
  const streamable = () => new StreamableHTTPClientTransport(server.url, { requestInit, ...(authProvider && { authProvider }) });
  return server.legacySse ? { primary: sse, fallback: sse } : { primary: streamable, fallback: sse };
}

function newClient(server: McpServerConfig, hooks: SessionHooks): Client {
  // applyDefaults: the SDK fills in the schema's defaults for whatever the user left out.
  const client = new Client(CLIENT_INFO, { capabilities: hooks.elicit ? { elicitation: { form: { applyDefaults: true } } } : {} });
  const log = hooks.logger.child({ mcp: server.name });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    const level = LOG_LEVELS[n.params.level] ?? "info";
    log[level]({ logger: n.params.logger, data: n.params.data }, "server log");
  });
  // Sampling is not offered (no capability declared); a server that asks anyway is told why,
  // rather than a bare "method not found".
  client.fallbackRequestHandler = async (request) => {
    if (request.method === "sampling/createMessage") {
      throw new McpError(ErrorCode.InvalidRequest, "IronClaw refuses sampling requests: no model is configured to answer them");
    }
    throw new McpError(ErrorCode.MethodNotFound, `IronClaw does not handle ${request.method}`);
  };
  if (hooks.elicit) {
    const elicit = hooks.elicit;
    client.setRequestHandler(ElicitRequestSchema, (request) => elicit(server.name, request.params));
  }
  return client;
}

/** Opens a session; an aborted open closes whatever it had started before it rejects. */
export async function openSession(server: McpServerConfig, hooks: SessionHooks, signal?: AbortSignal, timeoutMs = server.timeoutMs): Promise<McpSession> {
  signal?.throwIfAborted();
  let client = newClient(server, hooks);
  let transport: Transport | undefined;
  let stderr = () => "";
  let sandboxed: McpSandboxedTransport | undefined;
  const provider = server.transport === "http" ? hooks.oauth?.(server) : undefined;
  await provider?.prepare();
  let serverVersion: string | undefined;
  const connect = async (t: Transport) => {
    const abort = () => void client.close().catch(() => {});
    signal?.addEventListener("abort", abort, { once: true });
    watchInitialize(t, (version) => (serverVersion = version));
    try {
      await client.connect(t, { ...(signal && { signal }), timeout: timeoutMs });
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  };
  try {
    if (server.transport === "stdio" && server.sandbox) {
      if (!hooks.sandbox) throw new McpConnectError("EBACKEND", `MCP server ${server.name} asks for a sandbox, and this IronClaw process has no sandbox backends`, true);
      sandboxed = new McpSandboxedTransport(server, hooks.sandbox, hooks.logger.child({ mcp: server.name }), hooks.sandboxLimits);
      const t = sandboxed;
      transport = t;
      stderr = () => t.stderrTail();
      await connect(t);
    } else if (server.transport === "stdio") {
      const stdio = new McpStdioTransport(server as StdioServerConfig);
      transport = stdio;
      stderr = () => stdio.stderrTail();
      await connect(stdio);
    } else {
      const { primary, fallback } = httpTransports(server, provider);
      try {
        // A failed initialize closes its transport: each authorization round gets a new one.
        await authorized(
          provider,
          () => transport!,
          () => connect((transport = primary())),
        );
      } catch (err) {
        // A server that only speaks the 2024-11-05 HTTP+SSE transport answers the POST with a 4xx.
        const status = err instanceof StreamableHTTPError ? err.code : undefined;
        if (server.legacySse || status === undefined || status < 400 || status >= 500 || status === 401 || status === 403) throw err;
        await client.close().catch(() => {});
        client = newClient(server, hooks);
        await authorized(
          provider,
          () => transport!,
          () => connect((transport = fallback())),
        );
      }
    }
  } catch (err) {
    provider?.close();
    await client.close().catch(() => {});
    signal?.throwIfAborted();
    throw classify(server, err as Error, stderr(), serverVersion);
  }
  if (signal?.aborted) {
    await client.close().catch(() => {});
    signal.throwIfAborted();
  }

  const closed = new Promise<string>((resolve) => {
    const previous = client.onclose;
    client.onclose = () => {
      previous?.();
      if (sandboxed) resolve(`${sandboxed.closeReason()}${lastLine(stderr())}`);
      else resolve(server.transport === "stdio" ? `the server process exited${lastLine(stderr())}` : "the HTTP connection closed");
    };
  });
  const toolListeners = new Set<() => void>();
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => toolListeners.forEach((l) => l()));
  const session: McpSession = {
    server,
    client,
    closed,
    onToolsChanged(listener) {
      toolListeners.add(listener);
      return () => toolListeners.delete(listener);
    },
    withAuth: (op) => authorized(provider, () => transport!, op),
    diagnostics: stderr,
    sandboxId: () => sandboxed?.sandboxId ?? null,
    close: async () => {
      provider?.close();
      await client.close();
    },
  };
  return session;
}

function lastLine(text: string): string {
  const line = text.trim().split("\n").pop();
  return line ? `: ${line}` : "";
}

/**
 * Tells `seen` the protocol version in the server's initialize result as it arrives. The SDK
 * refuses a version it does not support with a plain Error and no code, so the version is read
 * from the reply itself rather than from that error's text.
 */
function watchInitialize(transport: Transport, seen: (version: string) => void): void {
  let handler: Transport["onmessage"];
  Object.defineProperty(transport, "onmessage", {
    configurable: true,
    get: () => handler,
    set: (next: Transport["onmessage"]) => {
      handler =
        next &&
        ((message, extra) => {
          const version = (message as { result?: { protocolVersion?: unknown } }).result?.protocolVersion;
          if (typeof version === "string") seen(version);
          next(message, extra);
        });
    },
  });
}

function classify(server: McpServerConfig, err: Error, stderr: string, serverVersion: string | undefined): McpConnectError {
  if (err instanceof McpConnectError) return err;
  const status = err instanceof StreamableHTTPError ? err.code : undefined;
  if (status === 401 || status === 403 || err instanceof UnauthorizedError) {
    return new McpConnectError("EAUTH", `MCP server ${server.name} refused the credentials (HTTP ${status}): check its headers or oauth settings`, true);
  }
  if (serverVersion !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(serverVersion)) {
    // The server's own words, bounded (the message reaches the terminal, escaped there).
    return new McpConnectError(
      "EPROTO",
      `MCP server ${server.name} speaks MCP ${JSON.stringify(serverVersion.slice(0, 40))}; IronClaw speaks ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")}: update the server or IronClaw`,
      true,
    );
  }
  return new McpConnectError("ECONNECT", `cannot connect to MCP server ${server.name}: ${err.message}${lastLine(stderr)}`, false);
}
