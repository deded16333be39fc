// An MCP server as configured: the shape src/config/mcp-config.ts loads and checks, and the
// MCP actors connect to. Types and the pure questions about one entry; loading is src/'s.
import type { BackendName } from "./backend.ts";

interface Common {
  readonly name: string;
  /** The config file the entry came from. */
  readonly source: string;
  readonly timeoutMs: number;
  readonly idempotentTools: readonly string[];
  readonly trusted: boolean;
}

export interface StdioServerConfig extends Common {
  readonly transport: "stdio";
  readonly command: string;
  readonly args: readonly string[];
  /** Only what the entry names; the launcher adds a minimal safe set (PATH, HOME, …). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly sandbox: boolean;
  /** With `sandbox`: the backend asked for; absent means the strongest that works and can mount. */
  readonly sandboxBackend?: BackendName;
  /** With `sandbox`: extra host paths (absolute, existing) seen read-only at the same path. */
  readonly sandboxPaths?: readonly string[];
}

export interface HttpServerConfig extends Common {
  readonly transport: "http";
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly legacySse: boolean;
  readonly oauth: { readonly clientId?: string; readonly clientSecret?: string; readonly scope?: string } | null;
}

export type McpServerConfig = StdioServerConfig | HttpServerConfig;

/** Whether calls to the server stay in a sandbox of its own: no network, host paths read-only, its scratch thrown away. */
export function isConfined(server: McpServerConfig): boolean {
  return server.transport === "stdio" && server.sandbox;
}

/** How `mcp list` names a server's transport: a sandboxed stdio server says so. */
export function transportLabel(server: McpServerConfig): string {
  if (server.transport === "http") return server.legacySse ? "sse" : "http";
  if (!server.sandbox) return "stdio";
  return server.sandboxBackend ? `stdio/sandbox:${server.sandboxBackend}` : "stdio/sandbox";
}

/** The entry for logs and `mcp list`: never an env or header value (they may hold secrets). */
export function describeServer(server: McpServerConfig): Record<string, unknown> {
  return server.transport === "stdio"
    ? {
        name: server.name,
        transport: "stdio",
        command: server.command,
        args: server.args.length,
        env: Object.keys(server.env),
        // Paths may come from ${VAR}s: counted, not shown, like args.
        sandbox: server.sandbox ? { backend: server.sandboxBackend ?? "auto", paths: server.sandboxPaths?.length ?? 0 } : false,
      }
    : { name: server.name, transport: server.legacySse ? "sse" : "http", url: `${server.url.origin}${server.url.pathname}`, headers: Object.keys(server.headers) };
}
