// The MCP servers IronClaw connects to, in the `mcpServers` shape Claude Desktop, Cursor and
// others already use: `command`/`args`/`env` for a local (stdio) server, `url`/`headers` for a
// remote (Streamable HTTP) one, validated with messages that name the file and the key.
//
// Two files declare them, and they are not equals. The user's own config is the user's word:
// its entries may run on the host, be `trusted`, and read any `${VAR}` of the environment. The
// project's config arrives with a cloned repository, so it is hostile until the user trusts that
// exact file (src/config/project-trust.ts): until then its entries are only read, checked and shown —
// nothing interpolated, nothing started, nothing connected. Even trusted, a project's entry may
// not set `trusted`, turn `sandbox` off (its local servers run sandboxed), take the name of one
// of the user's entries, widen the launcher allow-list, or read a host variable the user has not
// listed in `mcp.allowedVariables`. `${VAR}` values are secrets as far as IronClaw is concerned
// and are never logged (see describeServer).
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { existsSync, lstatSync, realpathSync } from "node:fs";
import { Result, Schema } from "effect";
import { ensurePrivateDir } from "../../actors/sandbox/private-dir.ts";
import { BACKENDS, type BackendName } from "../../core/backend.ts";
import type { McpServerConfig } from "../../core/mcp-server.ts";
import { checkCommand } from "./mcp-command-policy.ts";
import { stateDir } from "../../core/paths.ts";
import { configSha256, isTrusted } from "./project-trust.ts";
import { configFiles, describeFailure, parseConfig, readConfig, readConfigBytes, valueAt, type ConfigFile } from "./settings.ts";
import { oneLine } from "../../core/terminal-text.ts";
import { SettingsError } from "../../core/errors.ts";

const StringMap = Schema.Record(Schema.String, Schema.String);
const Seconds = Schema.Number.check(Schema.makeFilter((n: number) => (n > 0 && n <= 3600) || "must be between 0 and 3600 seconds"));

/** What every server entry may say, whichever its transport. */
const common = {
  /** Per-request timeout for this server (default 60 s). */
  timeoutSecs: Schema.optional(Seconds),
  /** Tools whose calls may be sent again after a reconnect: the server promises repeats are harmless. */
  idempotentTools: Schema.optional(Schema.Array(Schema.String)),
  /** Believe this server's tool annotations (readOnlyHint …) when they would make a call green (the user's config only). */
  trusted: Schema.optional(Schema.Boolean),
  disabled: Schema.optional(Schema.Boolean),
};

const StdioEntry = Schema.Struct({
  type: Schema.optional(Schema.Literal("stdio")),
  command: Schema.String,
  args: Schema.optional(Schema.Array(Schema.String)),
  env: Schema.optional(StringMap),
  cwd: Schema.optional(Schema.String),
  /** Run the server inside an IronClaw sandbox, its own files mounted read-only (default: off in the user's config; always on in a project's). */
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

export interface McpConfig {
  /** The servers to connect: the user's, then the project's when the user trusts its config. */
  readonly servers: readonly McpServerConfig[];
  /** Launchers allowed beyond the built-in ones (from the user's config only). */
  readonly allowedCommands: readonly string[];
  /** The user's config file: where trust-free settings belong, named in errors. */
  readonly userFile: string;
  /** The project's config file, when there is one: what it declares, and whether it is trusted. */
  readonly project: ProjectMcpConfig | null;
}

/** A project's server as its config declares it, checked but not interpolated: what the user is asked to trust. */
export type ProjectServer =
  | {
      readonly name: string;
      readonly transport: "stdio";
      readonly command: string;
      /** As written: a `${VAR}` stays a `${VAR}`. */
      readonly args: readonly string[];
      readonly env: Readonly<Record<string, string>>;
      /** Resolved against the project unless it holds a `${VAR}`. */
      readonly cwd: string;
      readonly sandboxBackend?: BackendName;
      /** Resolved against the project unless they hold a `${VAR}`. */
      readonly sandboxPaths: readonly string[];
      /** The host variables it reads (every one listed in the user's mcp.allowedVariables). */
      readonly variables: readonly string[];
    }
  | {
      readonly name: string;
      readonly transport: "http";
      readonly url: string;
      readonly headers: Readonly<Record<string, string>>;
      readonly legacySse: boolean;
      readonly oauth: boolean;
      readonly variables: readonly string[];
    };

export interface ProjectMcpConfig {
  readonly file: string;
  /** The project directory (as the command was run there). */
  readonly dir: string;
  /** SHA-256 (hex) of the file's exact bytes: what trust is given to. */
  readonly sha256: string;
  /** Whether the user trusted exactly these bytes for this directory. */
  readonly trusted: boolean;
  /** Its servers that are not disabled. */
  readonly servers: readonly ProjectServer[];
}

const DEFAULT_TIMEOUT_MS = 60_000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const HAS_VARIABLE = new RegExp(VARIABLE.source);

type Decoder<T> = (u: unknown) => Result.Result<T, Error>;
const decoder = <S extends Schema.Top>(schema: S) => Schema.decodeUnknownResult(schema as never, { onExcessProperty: "error" } as never) as Decoder<S["Type"]>;
const decodeStdio = decoder(StdioEntry);
const decodeHttp = decoder(HttpEntry);

/** Either shape; code reads only the keys of the shape it decoded (`local` says which). */
type Entry = typeof StdioEntry.Type & typeof HttpEntry.Type;
interface Decoded {
  readonly name: string;
  readonly file: string;
  readonly local: boolean;
  readonly value: Entry;
}

/** A refusal naming the file; kept to one line, since the file and its keys may come from a cloned repository. */
function failIn(file: string) {
  return (message: string): never => {
    throw new SettingsError(oneLine(`${file}: ${message}`));
  };
}

/** `${VAR}` → the variable's value; a variable that is not set is an error naming the key. */
function interpolate(value: string, at: string, env: NodeJS.ProcessEnv): string {
  return value.replace(VARIABLE, (_, name: string) => {
    const got = env[name];
    if (got === undefined) throw new Error(`${at}: \${${name}} is not set in the environment`);
    return got;
  });
}

const mapValues = (record: Readonly<Record<string, string>> | undefined, at: string, env: NodeJS.ProcessEnv) =>
  Object.fromEntries(Object.entries(record ?? {}).map(([k, v]) => [k, interpolate(v, `${at}.${k}`, env)]));

/** Every `${VAR}` the entry would read, with the key it is at. */
function variablesOf({ local, value }: Decoded): Array<{ at: string; name: string }> {
  const places: Array<readonly [string, string]> = local
    ? [
        ...(value.args ?? []).map((a, i) => [`args[${i}]`, a] as const),
        ...Object.entries(value.env ?? {}).map(([k, v]) => [`env.${k}`, v] as const),
        ...(value.cwd !== undefined ? [["cwd", value.cwd] as const] : []),
        ...(value.sandboxPaths ?? []).map((p, i) => [`sandboxPaths[${i}]`, p] as const),
      ]
    : [["url", value.url] as const, ...Object.entries(value.headers ?? {}).map(([k, v]) => [`headers.${k}`, v] as const)];
  return places.flatMap(([at, text]) => [...text.matchAll(VARIABLE)].map((m) => ({ at, name: m[1]! })));
}

/** The entry's shape, checked: a server name, either a command or a URL, known keys of the right types. */
function decodeEntry(name: string, raw: unknown, file: string): Decoded {
  const at = `mcpServers.${name}`;
  const fail = failIn(file);
  if (!NAME.test(name)) fail(`${at}: a server name may hold letters, digits, '.', '_' and '-' only`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(`${at}: must be an object with either command (a local server) or url (a remote one)`);
  const entry = raw as Record<string, unknown>;
  if ("command" in entry === "url" in entry) fail(`${at}: needs either command (a local server) or url (a remote one), not ${"command" in entry ? "both" : "neither"}`);
  const local = "command" in entry;
  const result: Result.Result<unknown, Error> = local ? decodeStdio(entry) : decodeHttp(entry);
  if (Result.isFailure(result)) {
    const { path, problem: raw } = describeFailure(result.failure);
    const problem = raw; // schemaProblem drops the "| undefined" of an optional key: it says what it must be
    const got = valueAt(entry, path);
    if (problem === "Expected no excess property") {
      const keys = Object.keys((local ? StdioEntry : HttpEntry).fields).join(", ");
      fail(`${at}.${path} is not a setting of a ${local ? "local" : "remote"} server (settings: ${keys})`);
    }
    return fail(`${at}.${path}: ${problem}${got === undefined ? "" : `, got ${JSON.stringify(got)}`}`);
  }
  return { name, file, local, value: result.success as Entry };
}

/** What only the user may say, refused in a project's entry; each refusal names where it belongs. */
function checkProjectEntry(decoded: Decoded, rules: { userFile: string; userNames: ReadonlySet<string>; allowedVariables: readonly string[] }): void {
  const { name, file, local, value } = decoded;
  const at = `mcpServers.${name}`;
  const fail = failIn(file);
  if (value.trusted !== undefined) {
    fail(`${at}.trusted: a project may not set this: whether a server's tool annotations are believed belongs in your own config (${rules.userFile})`);
  }
  if (local && value.sandbox === false) {
    fail(`${at}.sandbox: a project's local servers run sandboxed; to run this one on the host, declare it in your own config (${rules.userFile})`);
  }
  if (rules.userNames.has(name)) {
    fail(`${at}: ${rules.userFile} already declares a server named ${name}, and a project may not replace it; rename one of them`);
  }
  // Where a project's server runs and what its sandbox sees are shown as paths at review: a
  // `${HOME}/.ssh` would show as text, not as the place it is.
  const paths: Array<readonly [string, string | undefined]> = local ? [["cwd", value.cwd], ...(value.sandboxPaths ?? []).map((p, i) => [`sandboxPaths[${i}]`, p] as const)] : [];
  for (const [key, path] of paths) {
    if (path !== undefined && HAS_VARIABLE.test(path))
      fail(`${at}.${key}: a project's paths may not hold \${VAR}s (the review shows where a server runs and what it sees); write the path itself`);
  }
  for (const { at: key, name: variable } of variablesOf(decoded)) {
    if (!rules.allowedVariables.includes(variable)) {
      fail(`${at}.${key}: \${${variable}} is a host variable this project may not read; to allow it, add "${variable}" to mcp.allowedVariables in ${rules.userFile}`);
    }
  }
}

/**
 * The symbolic link a path inside the project goes through, if any. The repository decides where
 * such a link leads (and can change it later without changing the config): shown to a sandbox,
 * `./docs -> /home` would hand the user's files to a server the user was told reads the project.
 */
function linkInProject(projectDir: string, path: string): string | null {
  const rel = relative(projectDir, path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return null;
  let at = projectDir;
  for (const part of rel.split(sep)) {
    at = join(at, part);
    try {
      if (lstatSync(at).isSymbolicLink()) return at;
    } catch {
      return null; // absent: said so where the path is resolved
    }
  }
  return null;
}

/** Refuses a project entry's path that leads through a link in the project, naming the key. */
function refuseProjectLink(fail: (m: string) => never, at: string, projectDir: string, userFile: string, path: string): void {
  const link = linkInProject(projectDir, path);
  if (link) {
    fail(
      `${at}: ${path} leads through ${link}, a symbolic link in the project, to wherever the repository points it; a project's sandbox is shown real directories only (to share that target, name it in your own config, ${userFile})`,
    );
  }
}

/** Where a host server with no `cwd` starts: an empty directory of IronClaw's own, never the project. */
export function neutralCwd(): string {
  const dir = join(stateDir(), "mcp-cwd");
  ensurePrivateDir(dir, "set IRONCLAW_STATE_DIR to a directory of your own");
  return dir;
}

/** The entry as a server to connect, `${VAR}`s filled in; null when it is disabled. */
function resolveEntry(
  decoded: Decoded,
  // userFile: named in refusals. A link in the project is refused for the user's entries too: their
  // relative paths land in whatever project IronClaw runs in, and its links are the repository's.
  ctx: { projectDir: string; allowed: readonly string[]; env: NodeJS.ProcessEnv; sandboxByDefault: boolean; userFile: string },
): McpServerConfig | null {
  const { name, file, local, value } = decoded;
  const { projectDir, env } = ctx;
  const at = `mcpServers.${name}`;
  const fail = failIn(file);
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
      const problem = checkCommand(value.command, { projectDir, allowed: ctx.allowed });
      if (problem) fail(`${at}.command: ${problem}`);
      const sandbox = value.sandbox ?? ctx.sandboxByDefault;
      // A server on the host started in the project would run the project's code: `python3 -m x`
      // imports ./x.py first, npx prefers ./node_modules/.bin and reads ./.npmrc (a registry),
      // uvx reads ./uv.toml, cargo ./.cargo/config.toml. A cloned repository is hostile, so the
      // user's host servers start in an empty directory of IronClaw's unless the entry names a
      // cwd; a sandboxed one starts in the project, which it sees read-only.
      const cwd = value.cwd !== undefined ? resolve(projectDir, interpolate(value.cwd, `${at}.cwd`, env)) : sandbox ? projectDir : neutralCwd();
      if (!existsSync(cwd)) fail(`${at}.cwd: ${cwd} does not exist`);
      refuseProjectLink(fail, `${at}.cwd`, projectDir, ctx.userFile, cwd);
      if (!sandbox && (value.sandboxBackend !== undefined || value.sandboxPaths !== undefined)) {
        fail(`${at}.${value.sandboxBackend !== undefined ? "sandboxBackend" : "sandboxPaths"}: only means something with "sandbox": true`);
      }
      const sandboxPaths = (value.sandboxPaths ?? []).map((p, i) => {
        const path = resolve(projectDir, interpolate(p, `${at}.sandboxPaths[${i}]`, env));
        if (!existsSync(path)) fail(`${at}.sandboxPaths[${i}]: ${path} does not exist`);
        refuseProjectLink(fail, `${at}.sandboxPaths[${i}]`, projectDir, ctx.userFile, path);
        return path;
      });
      return {
        ...base,
        transport: "stdio",
        command: value.command,
        args: (value.args ?? []).map((a, i) => interpolate(a, `${at}.args[${i}]`, env)),
        env: mapValues(value.env, `${at}.env`, env),
        cwd,
        sandbox,
        ...(value.sandboxBackend !== undefined && { sandboxBackend: value.sandboxBackend }),
        ...(sandboxPaths.length > 0 && { sandboxPaths }),
      };
    }
    const href = interpolate(value.url, `${at}.url`, env);
    let url: URL;
    try {
      url = new URL(href);
    } catch {
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

/** A project server for the user to review: paths placed in the project unless a `${VAR}` decides them. */
function forReview(decoded: Decoded, projectDir: string): ProjectServer {
  const { name, local, value } = decoded;
  const place = (p: string) => (HAS_VARIABLE.test(p) ? p : resolve(projectDir, p));
  const variables = [...new Set(variablesOf(decoded).map((v) => v.name))];
  if (local) {
    return {
      name,
      transport: "stdio",
      command: value.command,
      args: value.args ?? [],
      env: value.env ?? {},
      cwd: value.cwd === undefined ? projectDir : place(value.cwd),
      ...(value.sandboxBackend !== undefined && { sandboxBackend: value.sandboxBackend }),
      sandboxPaths: (value.sandboxPaths ?? []).map(place),
      variables,
    };
  }
  return { name, transport: "http", url: value.url, headers: value.headers ?? {}, legacySse: value.type === "sse", oauth: value.oauth !== undefined, variables };
}

const sameFile = (a: string, b: string) => {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
};

interface Read {
  readonly env: NodeJS.ProcessEnv;
  readonly projectDir: string;
  readonly userFile: string;
  readonly user: ConfigFile;
  readonly allowedCommands: readonly string[];
  readonly project: ProjectMcpConfig | null;
  /** The project's entries, checked (disabled ones too: what they say is refused all the same). */
  readonly projectEntries: readonly Decoded[];
}

function read(options: { cwd?: string; env?: NodeJS.ProcessEnv; trustStore?: string }): Read {
  const env = options.env ?? process.env;
  const projectDir = resolve(options.cwd ?? process.cwd());
  const files = configFiles(projectDir, env);
  const user = existsSync(files.user) ? readConfig(files.user) : {};
  const allowedCommands = user.mcp?.allowedCommands ?? [];
  const none = { env, projectDir, userFile: files.user, user, allowedCommands, project: null, projectEntries: [] };
  if (!existsSync(files.project) || sameFile(files.project, files.user)) return none;
  // Read once: the bytes hashed are the bytes parsed, whatever happens to the file meanwhile.
  const bytes = readConfigBytes(files.project);
  const config = parseConfig(files.project, bytes.toString("utf8"));
  const fail = failIn(files.project);
  // The allow-lists protect the user from a project's config: a cloned repository cannot widen them.
  for (const key of ["allowedCommands", "allowedVariables"] as const) {
    if (config.mcp?.[key] !== undefined) fail(`mcp.${key} cannot be set by a project; set it in ${files.user}`);
  }
  const rules = { userFile: files.user, userNames: new Set(Object.keys(user.mcpServers ?? {})), allowedVariables: user.mcp?.allowedVariables ?? [] };
  const projectEntries = Object.entries(config.mcpServers ?? {}).map(([name, raw]) => {
    const decoded = decodeEntry(name, raw, files.project);
    checkProjectEntry(decoded, rules);
    // Static checks only: the command's place on disk and the project's links, never the environment.
    if (decoded.local) {
      const problem = checkCommand(decoded.value.command, { projectDir, allowed: allowedCommands });
      if (problem) fail(`mcpServers.${name}.command: ${problem}`);
      const paths: Array<readonly [string, string | undefined]> = [
        ["cwd", decoded.value.cwd],
        ...(decoded.value.sandboxPaths ?? []).map((p, i) => [`sandboxPaths[${i}]`, p] as const),
      ];
      for (const [key, raw] of paths) {
        if (raw !== undefined && !HAS_VARIABLE.test(raw)) refuseProjectLink(fail, `mcpServers.${name}.${key}`, projectDir, files.user, resolve(projectDir, raw));
      }
    }
    return decoded;
  });
  const servers = projectEntries.filter((d) => !d.value.disabled).map((d) => forReview(d, projectDir));
  const sha256 = configSha256(bytes);
  const trusted = servers.length > 0 && isTrusted(projectDir, sha256, options.trustStore);
  return { ...none, project: { file: files.project, dir: projectDir, sha256, trusted, servers }, projectEntries };
}

/**
 * The user's servers, and the project's when the user trusts its config; `project` says what
 * the project declares either way (for the trust prompt). Nothing of an untrusted project's
 * config is interpolated, started or connected.
 */
export function loadMcpConfig(options: { cwd?: string; env?: NodeJS.ProcessEnv; trustStore?: string } = {}): McpConfig {
  const r = read(options);
  const ctx = { projectDir: r.projectDir, allowed: r.allowedCommands, env: r.env };
  const servers = Object.entries(r.user.mcpServers ?? {}).map(([name, raw]) =>
    resolveEntry(decodeEntry(name, raw, r.userFile), { ...ctx, sandboxByDefault: false, userFile: r.userFile }),
  );
  if (r.project?.trusted) servers.push(...r.projectEntries.map((d) => resolveEntry(d, { ...ctx, sandboxByDefault: true, userFile: r.userFile })));
  return { servers: servers.filter((s): s is McpServerConfig => s !== null), allowedCommands: r.allowedCommands, userFile: r.userFile, project: r.project };
}

/** What the project's config declares, checked and not interpolated, and whether it is trusted; the user's own entries are not read. */
export function readProjectMcp(options: { cwd?: string; env?: NodeJS.ProcessEnv; trustStore?: string } = {}): { userFile: string; project: ProjectMcpConfig | null } {
  const r = read(options);
  return { userFile: r.userFile, project: r.project };
}
