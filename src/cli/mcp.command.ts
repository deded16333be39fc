// `ironclaw mcp list | tools | call`: the configured MCP servers, as a user drives them: the
// daemon's connections when a daemon runs for this project, else each a connection actor under
// an in-process orchestrator (withRuntime), which every command ends with a shutdown of, so
// server processes and sockets are gone when it returns. Written once, against IronclawService.
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { IronclawOAuthProvider, oauthStoreFile } from "../../actors/mcp/mcp-oauth.ts";
import { DaemonClient } from "../daemon/daemon-client.ts";
import { readDaemonRecord } from "../daemon/daemon.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import { logFile } from "../logger.ts";
import { describeServer, transportLabel, type HttpServerConfig, type McpServerConfig } from "../../core/mcp-server.ts";
import { loadMcpConfig, readProjectMcp } from "../config/mcp-config.ts";
import type { IronclawService } from "../service/ironclaw-service.ts";
import { withRuntime } from "../service/with-runtime.ts";
import { oneLine, safeJson, visible } from "../../core/terminal-text.ts";
import { say } from "./cli-io.ts";
import { elicitAtTerminal } from "./elicit-prompt.ts";
import { projectTrustGate } from "./project-trust-gate.ts";
import { McpHubError, SettingsError, UsageError } from "../../core/errors.ts";

const print = (line: string) => process.stdout.write(`${line}\n`);
// A server's names, descriptions, errors and results are its own words: --json carries them
// exactly (safeJson: escaped, not changed), and text output shows them with escapes visible.
const printJson = (value: unknown) => print(safeJson(value));

function configOrUsage(): McpServerConfig[] {
  try {
    return [...loadMcpConfig().servers];
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
}

/** OAuth through the user's browser, client and tokens kept per server in the XDG config dir. */
function browserOAuth(server: HttpServerConfig): IronclawOAuthProvider {
  const configHome = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return new IronclawOAuthProvider({
    mode: "browser",
    file: oauthStoreFile(configHome, server.name, server.url),
    ...(server.oauth?.clientId && { preRegistered: { clientId: server.oauth.clientId, ...(server.oauth.clientSecret && { clientSecret: server.oauth.clientSecret }) } }),
    ...(server.oauth?.scope && { scope: server.oauth.scope }),
    onAuthorizationUrl: (url) => say(`MCP server ${server.name} needs you to sign in: open ${url.href}`),
  });
}

function pick(servers: McpServerConfig[], name: string): McpServerConfig {
  const server = servers.find((s) => s.name === name);
  if (!server)
    throw new UsageError(`no MCP server named ${name} (configured: ${servers.map((s) => s.name).join(", ") || "none; add one under mcpServers in .ironclaw/config.json"})`);
  return server;
}

/**
 * The daemon's connections, when a daemon runs for this project (its servers come from the
 * config of the directory `ironclaw up` ran in): they are long-lived, and `status` shows them.
 */
async function daemonFor(opts: { daemon?: boolean }): Promise<DaemonClient | null> {
  if (opts.daemon === false) return null;
  const record = readDaemonRecord();
  if (!record || resolve(record.projectDir ?? "") !== resolve(process.cwd())) return null;
  return DaemonClient.connect();
}

/**
 * Runs `body` against the daemon's service when one runs for this project, else against a
 * runtime in this process connected to `servers`, shut down when the body is done.
 */
async function withService<T>(servers: McpServerConfig[], opts: { verbose: boolean; daemon?: boolean }, body: (service: IronclawService) => Promise<T>): Promise<T> {
  const daemon = await daemonFor(opts);
  if (daemon) return body(daemon);
  const ended = await withRuntime(
    {
      verbose: opts.verbose,
      command: "mcp",
      reason: "mcp command done",
      runtime: { mcp: { servers, elicit: elicitAtTerminal, oauth: (s) => (s.oauth ? browserOAuth(s) : undefined) } },
      onSignal: "orchestrated",
      onCrash: (err) => say(`internal error: ${err.message} (see ${logFile()})`),
    },
    async ({ runtime, service }) => {
      runtime.mcp.connect(servers.map((s) => s.name));
      return body(service);
    },
  );
  return ended.value;
}

const unavailable = (err: unknown): number => {
  if (!(err instanceof McpHubError)) throw err;
  say(err.message);
  return ExitCode.mcpUnavailable;
};

/** The transport column is as wide as its widest entry ("stdio/sandbox:gvisor"), at least 6. */
const transportWidth = (rows: readonly { transport: string }[]) => Math.max(6, ...rows.map((r) => r.transport.length));

export async function runMcpList(opts: { json: boolean; verbose: boolean; daemon?: boolean }): Promise<number> {
  // The project's servers start only once its config is trusted; left out, they are still listed.
  const gate = await projectTrustGate({ listing: true });
  const servers = configOrUsage();
  const untrusted =
    gate === "declined"
      ? (readProjectMcp().project?.servers ?? []).map((s) => ({
          name: s.name,
          transport: s.transport === "stdio" ? "stdio/sandbox" : "http",
          state: "untrusted",
          tools: 0,
          error: "not started: this project's config is not trusted (review it with `ironclaw trust`)",
        }))
      : [];
  const daemon = await daemonFor(opts);
  if (daemon) {
    // The daemon's connections as they are now (ready, reconnecting …), without waiting.
    const { servers: rows } = await daemon.mcp.list();
    if (opts.json) printJson({ path: "daemon", servers: rows });
    else
      for (const r of rows) print(`${oneLine(r.name).padEnd(20)} ${r.transport.padEnd(transportWidth(rows))} ${r.state.padEnd(12)} ${oneLine(r.lastError ?? `${r.tools} tools`)}`);
    return ExitCode.ok;
  }
  if (!servers.length && !untrusted.length) {
    if (opts.json) printJson({ servers: [] });
    else print("no MCP servers configured (add them under mcpServers in .ironclaw/config.json or ~/.config/ironclaw/config.json)");
    return ExitCode.ok;
  }
  const started = !servers.length
    ? []
    : await withService(servers, { ...opts, daemon: false }, async (service) => {
        // Each server waited for: ready with its tools, or failed with its reason.
        const settled = await Promise.allSettled(servers.map((s) => service.mcp.tools(s.name)));
        return servers.map((s, i) => {
          const r = settled[i]!;
          const described = { ...describeServer(s), name: s.name, transport: transportLabel(s) };
          return r.status === "fulfilled"
            ? { ...described, state: "ready", tools: r.value.length, error: null }
            : { ...described, state: "failed", tools: 0, error: (r.reason as Error).message };
        });
      });
  const rows = [...started, ...untrusted];
  if (opts.json) printJson({ path: "in-process", servers: rows });
  else for (const r of rows) print(`${oneLine(r.name).padEnd(20)} ${r.transport.padEnd(transportWidth(rows))} ${r.state.padEnd(9)} ${oneLine(r.error ?? `${r.tools} tools`)}`);
  return ExitCode.ok;
}

export async function runMcpTools(name: string, opts: { json: boolean; verbose: boolean; daemon?: boolean }): Promise<number> {
  await projectTrustGate({ server: name });
  const server = pick(configOrUsage(), name);
  const printTools = (tools: readonly Readonly<Record<string, unknown>>[]) => {
    if (opts.json) printJson({ server: name, tools });
    else for (const t of tools) print(`${oneLine(String(t.name)).padEnd(32)} ${oneLine(String(t.description ?? "").split("\n")[0]!)}`);
    return ExitCode.ok;
  };
  return withService([server], opts, async (service) => {
    let tools;
    try {
      tools = await service.mcp.tools(name);
    } catch (err) {
      return unavailable(err);
    }
    return printTools(tools);
  });
}

interface Content {
  type: string;
  text?: string;
  mimeType?: string;
  data?: string;
  resource?: { uri?: string; text?: string };
  uri?: string;
}

/** A tool result for a person: its text, and a line for each thing that is not text. */
function renderResult(result: { content?: Content[]; structuredContent?: unknown }): string {
  const parts = (result.content ?? []).map((c) =>
    c.type === "text"
      ? (c.text ?? "")
      : c.type === "resource"
        ? (c.resource?.text ?? `[resource ${c.resource?.uri ?? ""}]`)
        : c.type === "resource_link"
          ? `[resource link ${c.uri ?? ""}]`
          : `[${c.type}${c.mimeType ? ` ${c.mimeType}` : ""}${c.data ? `, ${Buffer.from(c.data, "base64").length} bytes` : ""}]`,
  );
  if (!parts.length && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent, null, 2));
  return parts.join("\n");
}

type ToolResult = { isError?: boolean; content?: Content[]; structuredContent?: unknown };

function reportResult(tool: string, result: ToolResult, json: boolean): number {
  if (json) printJson(result);
  else if (result.isError) say(`${tool} reported an error: ${renderResult(result)}`);
  else print(visible(renderResult(result)));
  return result.isError ? ExitCode.toolError : ExitCode.ok;
}

function callFailed(err: unknown): number {
  if (err instanceof McpHubError && err.code === "ETIMEDOUT") {
    say(err.message);
    return ExitCode.timeout;
  }
  return unavailable(err);
}

export async function runMcpCall(name: string, tool: string, opts: { args: string; json: boolean; verbose: boolean; timeout?: number; daemon?: boolean }): Promise<number> {
  let args: unknown;
  try {
    args = JSON.parse(opts.args);
  } catch (err) {
    throw new UsageError(`--args must be a JSON object: ${(err as Error).message}`);
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) throw new UsageError(`--args must be a JSON object, got ${opts.args}`);
  await projectTrustGate({ server: name });
  const server = pick(configOrUsage(), name);
  const onProgress = (p: { progress: number; total?: number; message?: string }) => {
    if (!opts.json) say(`${tool}: ${p.progress}${p.total !== undefined ? `/${p.total}` : ""}${p.message ? ` ${p.message}` : ""}`);
  };
  return withService([server], opts, async (service) => {
    try {
      const result = await service.mcp.call(name, tool, args as Record<string, unknown>, {
        ...(opts.timeout !== undefined && { timeoutMs: opts.timeout * 1000 }),
        onProgress,
      });
      return reportResult(tool, result as ToolResult, opts.json);
    } catch (err) {
      return callFailed(err);
    }
  });
}
