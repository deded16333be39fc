// The MCP servers IronClaw connects to, in the `mcpServers` shape Claude Desktop, Cursor and
// others already use: `command`/`args`/`env` for a local (stdio) server, `url`/`headers` for a
// remote (Streamable HTTP) one. Read from the user's config and the project's (the project's
// entry wins for the same name), validated with messages that name the file and the key.
// `${VAR}` in args, env, cwd, url and headers comes from the environment; those values are
// secrets as far as IronClaw is concerned and are never logged (see describeServer).
import { resolve } from "node:path";
import { existsSync } from "node:fs";
import { Result, Schema } from "effect";
import { BACKENDS, type BackendName } from "../actors/sandbox-driver.ts";
import { checkCommand } from "./mcp-command-policy.ts";
import { configFiles, describeFailure, readConfig, SettingsError, valueAt } from "./settings.ts";

const StringMap = Schema.Record(Schema.String, Schema.String);
const Seconds = Schema.Number.check(Schema.makeFilter((n: number) => (n > 0 && n <= 3600) || "must be between 0 and 3600 seconds"));

/** What every server entry may say, whichever its transport. */
const common = {
  /** Per-request timeout for this server (default 60 s). */
  timeoutSecs: Schema.optional(Seconds),
  /** Tools whose calls may be sent again after a reconnect: the server promises repeats are harmless. */
  idempotentTools: Schema.optional(Schema.Array(Schema.String)),
  /** Believe this server's tool annotations (readOnlyHint …) when they would make a call green. */
  trusted: Schema.optional(Schema.Boolean),
  disabled: Schema.optional(Schema.Boolean),
};

const StdioEntry = Schema.Struct({
  type: Schema.optional(Schema.Literal("stdio")),
  command: Schema.String,
  args: Schema.optional(Schema.Array(Schema.String)),
  env: Schema.optional(StringMap),
  cwd: Schema.optional(Schema.String),
  /** Run the server inside an IronClaw sandbox, its own files mounted read-only. */
  sandbox: Schema.optional(Schema.Boolean),
  /** The sandbox's backend (default: the strongest that works here and can show the server its files). */
  sandboxBackend: Schema.optional(Schema.Literals(BACKENDS)),
  /** More host paths the sandboxed server sees, read-only at the same path (relative to the project). */
  sandboxPaths: Schema.optional(Schema.Array(Schema.String)),
  ...common,
});

const HttpEntry = Schema.Struct({
  /** "sse" forces the legacy HTTP+SSE transport; otherwise Streamable HTTP, falling back to SSE on a 4xx. */
  type: Schema.optional(Schema.Literals(["http", "streamable-http", "sse"])),
  url: Schema.String,
  headers: Schema.optional(StringMap),
  oauth: Schema.optional(
    Schema.Struct({
      clientId: Schema.optional(Schema.String),
      clientSecret: Schema.optional(Schema.String),
      scope: Schema.optional(Schema.String),
    }),
  ),
  ...common,
});

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

export interface McpConfig {
  readonly servers: readonly McpServerConfig[];
  /** Launchers allowed beyond the built-in ones (from the user's config only). */
  readonly allowedCommands: readonly string[];
}

const DEFAULT_TIMEOUT_MS = 60_000;

type Decoder<T> = (u: unknown) => Result.Result<T, Error>;
const decoder = <S extends Schema.Top>(schema: S) => Schema.decodeUnknownResult(schema as never, { onExcessProperty: "error" } as never) as Decoder<S["Type"]>;
const decodeStdio = decoder(StdioEntry);
const decodeHttp = decoder(HttpEntry);

/** `${VAR}` → the variable's value; a variable that is not set is an error naming the key. */
function interpolate(value: string, at: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const got = env[name];
    if (got === undefined) throw new Error(`${at}: \${${name}} is not set in the environment`);
    return got;
  });
}

const mapValues = (record: Readonly<Record<string, string>> | undefined, at: string, env: NodeJS.ProcessEnv) =>
  Object.fromEntries(Object.entries(record ?? {}).map(([k, v]) => [k, interpolate(v, `${at}.${k}`, env)]));

function parseEntry(name: string, raw: unknown, file: string, projectDir: string, allowed: readonly string[], env: NodeJS.ProcessEnv): McpServerConfig | null {
  const at = `mcpServers.${name}`;
  function fail(message: string): never {
    throw new SettingsError(`${file}: ${message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(`${at}: must be an object with either command (a local server) or url (a remote one)`);
  const entry = raw as Record<string, unknown>;
  if ("command" in entry === "url" in entry) fail(`${at}: needs either command (a local server) or url (a remote one), not ${"command" in entry ? "both" : "neither"}`);
  const local = "command" in entry;
  const result: Result.Result<unknown, Error> = local ? decodeStdio(entry) : decodeHttp(entry);
  if (Result.isFailure(result)) {
    const { path, problem: raw } = describeFailure(result.failure);
    const problem = raw.replace(/ \| undefined$/, ""); // every key is optional; say what it must be
    const got = valueAt(entry, path);
    if (problem === "Expected no excess property") {
      const keys = Object.keys((local ? StdioEntry : HttpEntry).fields).join(", ");
      fail(`${at}.${path} is not a setting of a ${local ? "local" : "remote"} server (settings: ${keys})`);
    }
    return fail(`${at}.${path}: ${problem}${got === undefined ? "" : `, got ${JSON.stringify(got)}`}`);
  }
  // Either shape; the branch below reads only the keys of the shape it decoded.
  const value = result.success as typeof StdioEntry.Type & typeof HttpEntry.Type;
  if (value.disabled) return null;
  const base = {
    name,
    source: file,
    timeoutMs: value.timeoutSecs !== undefined ? Math.round(value.timeoutSecs * 1000) : DEFAULT_TIMEOUT_MS,
    idempotentTools: value.idempotentTools ?? [],
    trusted: value.trusted ?? false,
  };
  try {
    if (local) {
      const problem = checkCommand(value.command, { projectDir, allowed });
      if (problem) fail(`${at}.command: ${problem}`);
      const cwd = value.cwd === undefined ? projectDir : resolve(projectDir, interpolate(value.cwd, `${at}.cwd`, env));
      if (!existsSync(cwd)) fail(`${at}.cwd: ${cwd} does not exist`);
      if (!value.sandbox && (value.sandboxBackend !== undefined || value.sandboxPaths !== undefined)) {
        fail(`${at}.${value.sandboxBackend !== undefined ? "sandboxBackend" : "sandboxPaths"}: only means something with "sandbox": true`);
      }
      const sandboxPaths = (value.sandboxPaths ?? []).map((p, i) => {
        const path = resolve(projectDir, interpolate(p, `${at}.sandboxPaths[${i}]`, env));
        if (!existsSync(path)) fail(`${at}.sandboxPaths[${i}]: ${path} does not exist`);
        return path;
      });
      return {
        ...base,
        transport: "stdio",
        command: value.command,
        args: (value.args ?? []).map((a, i) => interpolate(a, `${at}.args[${i}]`, env)),
        env: mapValues(value.env, `${at}.env`, env),
        cwd,
        sandbox: value.sandbox ?? false,
        ...(value.sandboxBackend !== undefined && { sandboxBackend: value.sandboxBackend }),
        ...(sandboxPaths.length > 0 && { sandboxPaths }),
      };
    }
    let url: URL;
    try {
      url = new URL(interpolate(value.url, `${at}.url`, env));
    } catch (err) {
      if (err instanceof SettingsError) throw err;
      return fail(`${at}.url: not a URL (${JSON.stringify(value.url)})`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") fail(`${at}.url: must be http:// or https://, got ${url.protocol}`);
    return {
      ...base,
      transport: "http",
      url,
      headers: mapValues(value.headers, `${at}.headers`, env),
      legacySse: value.type === "sse",
      oauth: value.oauth ?? null,
    };
  } catch (err) {
    if (err instanceof SettingsError) throw err;
    return fail((err as Error).message);
  }
}

/** The servers configured for a project: the user's file, then the project's (its entries win). */
export function loadMcpConfig(options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): McpConfig {
  const env = options.env ?? process.env;
  const projectDir = resolve(options.cwd ?? process.cwd());
  const files = configFiles(projectDir, env);
  const user = existsSync(files.user) ? readConfig(files.user) : {};
  const project = existsSync(files.project) ? readConfig(files.project) : {};
  // The allow-list protects the user from a project's config: a cloned repository cannot widen it.
  if (project.mcp?.allowedCommands !== undefined) {
    throw new SettingsError(`${files.project}: mcp.allowedCommands cannot be set by a project; set it in ${files.user}`);
  }
  const allowedCommands = user.mcp?.allowedCommands ?? [];
  const byName = new Map<string, McpServerConfig | null>();
  for (const [file, config] of [[files.user, user], [files.project, project]] as const) {
    for (const [name, raw] of Object.entries(config.mcpServers ?? {})) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new SettingsError(`${file}: mcpServers.${name}: a server name may hold letters, digits, '.', '_' and '-' only`);
      byName.set(name, parseEntry(name, raw, file, projectDir, allowedCommands, env));
    }
  }
  return { servers: [...byName.values()].filter((s): s is McpServerConfig => s !== null), allowedCommands };
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

