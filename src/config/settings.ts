// IronClaw's settings: defaults, then the user's config file, then the project's, then the
// environment. Every source is validated with one Effect Schema; a value out of range is
// refused with a message naming the file and key (or variable) to fix — never clamped.
import { closeSync, constants, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { Result, Schema } from "effect";
import { configDir, stateDir } from "../../core/paths.ts";
import { schemaProblem } from "../../core/schema-problem.ts";
import { CPUS_TEXT, cpusProblem, defaultCpus } from "../cpu-limit.ts";
import { SettingsError } from "../../core/errors.ts";

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }));

const PoolSettings = Schema.Struct({
  size: Schema.optional(between(1, 20)),
  snapshotRefreshSecs: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(60))),
  snapshotPath: Schema.optional(Schema.String.check(Schema.makeFilter((s: string) => isAbsolute(s) || "must be an absolute path"))),
});

/** What every sandbox gets unless a command asks otherwise (`--cpus`). */
const SandboxSettings = Schema.Struct({
  cpus: Schema.optional(Schema.Number.check(Schema.makeFilter((n: number) => cpusProblem(n) ?? true))),
});

const McpSettings = Schema.Struct({
  /** Launchers a stdio server's `command` may name, beyond the built-in ones (user config only). */
  allowedCommands: Schema.optional(Schema.Array(Schema.String)),
  /** Host environment variables a trusted project's server entries may interpolate as `${VAR}` (user config only). */
  allowedVariables: Schema.optional(Schema.Array(Schema.String)),
});

/** The task's copy of the project and what may come back from it (docs/approvals.md). */
const WorkspaceSettings = Schema.Struct({
  /** The most a session's changes may add up to when they come back for approval. */
  maxChangeMiB: Schema.optional(between(1, 4096)),
});

/** Approval policy (docs/approvals.md). Each rule is checked by core/policy.ts; here `rules` only has to be a list. */
const PolicySettings = Schema.Struct({
  rules: Schema.optional(Schema.Array(Schema.Unknown)),
});

/** The config file's shape. Each `mcpServers` entry is checked by src/config/mcp-config.ts; here it only has to be an object. */
const ConfigFile = Schema.Struct({
  pool: Schema.optional(PoolSettings),
  mcp: Schema.optional(McpSettings),
  mcpServers: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
  policy: Schema.optional(PolicySettings),
  sandbox: Schema.optional(SandboxSettings),
  workspace: Schema.optional(WorkspaceSettings),
});
export type ConfigFile = typeof ConfigFile.Type;

export interface Settings {
  readonly pool: { readonly size: number; readonly snapshotRefreshSecs: number; readonly snapshotPath: string };
  /** The CPU limit of a sandbox whose command does not give `--cpus` (the pool's and MCP servers' too). */
  readonly sandbox: { readonly cpus: number };
  readonly workspace: { readonly maxChangeMiB: number };
  /** Where each setting came from, for `ironclaw doctor` and error messages. */
  readonly sources: readonly string[];
}

const ENV: Record<
  string,
  readonly ["pool", keyof typeof PoolSettings.fields] | readonly ["sandbox", keyof typeof SandboxSettings.fields] | readonly ["workspace", keyof typeof WorkspaceSettings.fields]
> = {
  IRONCLAW_POOL_SIZE: ["pool", "size"],
  IRONCLAW_SNAPSHOT_REFRESH_SECS: ["pool", "snapshotRefreshSecs"],
  IRONCLAW_SNAPSHOT_PATH: ["pool", "snapshotPath"],
  IRONCLAW_CPUS: ["sandbox", "cpus"],
  IRONCLAW_MAX_CHANGE_MIB: ["workspace", "maxChangeMiB"],
};

/** A variable's text as the setting's type: a path stays text, a count or a CPU number becomes one (else the schema says what it wanted). */
function envValue(key: string, raw: string): unknown {
  if (key === "snapshotPath") return raw;
  const numeric = key === "cpus" ? CPUS_TEXT : /^-?\d+$/;
  return numeric.test(raw.trim()) ? Number(raw) : raw;
}

const decode = Schema.decodeUnknownResult(ConfigFile as never, { onExcessProperty: "error" } as never) as (u: unknown) => Result.Result<ConfigFile, Error>;

/** The failure's first issue: `{ path: "pool.size", problem: "Expected a value between 1 and 20" }` (core/schema-problem.ts). */
export function describeFailure(failure: Error): { path: string; problem: string } {
  const { path, problem } = schemaProblem(failure);
  return { path, problem };
}

export function valueAt(object: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), object);
}

/** More than any config needs; a bigger "config" is an attack on the reader (a link to /dev/zero). */
const MAX_CONFIG_BYTES = 1 << 20;

/**
 * A config file's exact bytes: a regular file of at most 1 MiB, or a one-line error. A project's
 * config arrives with a cloned repository: as a FIFO it would hang every command run in the
 * project, as a link to /dev/zero exhaust memory. Opened non-blocking, checked, then read.
 */
export function readConfigBytes(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new SettingsError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SettingsError(`${file}: not a regular file; a config file must be one`);
    if (st.size > MAX_CONFIG_BYTES) throw new SettingsError(`${file}: ${st.size} bytes, more than a config file may hold (${MAX_CONFIG_BYTES})`);
    const bytes = Buffer.alloc(st.size);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return bytes.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

export function readConfig(file: string): ConfigFile {
  return parseConfig(file, readConfigBytes(file).toString("utf8"));
}

/** A config file's text, validated; `file` names it in errors. */
export function parseConfig(file: string, text: string): ConfigFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SettingsError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const result = decode(json);
  if (Result.isSuccess(result)) return result.success;
  const { path, problem } = describeFailure(result.failure);
  const got = valueAt(json, path);
  const sections: Record<string, { readonly fields: object }> = {
    pool: PoolSettings,
    policy: PolicySettings,
    sandbox: SandboxSettings,
    workspace: WorkspaceSettings,
    mcp: McpSettings,
  };
  const section = sections[path.split(".")[0]!] ?? null;
  const known = section ? ` (settings: ${Object.keys(section.fields).join(", ")})` : "";
  const hint =
    problem === "Expected no excess property"
      ? `${path} is not a setting${path.includes(".") ? known : ` (sections: ${Object.keys(ConfigFile.fields).join(", ")})`}`
      : `${path}: ${problem}${got === undefined ? "" : `, got ${JSON.stringify(got)}`}`;
  throw new SettingsError(`${file}: ${hint}`);
}

function fromEnv(env: NodeJS.ProcessEnv): ConfigFile {
  const sections: Record<string, Record<string, unknown>> = { pool: {}, sandbox: {}, workspace: {} };
  for (const [variable, [section, key]] of Object.entries(ENV)) {
    const raw = env[variable];
    if (raw === undefined || raw === "") continue;
    sections[section]![key] = envValue(key, raw);
  }
  const result = decode(sections);
  if (Result.isSuccess(result)) return result.success;
  const { path, problem } = describeFailure(result.failure);
  const variable = Object.entries(ENV).find(([, [section, key]]) => `${section}.${key}` === path)?.[0] ?? path;
  const wanted = path === "sandbox.cpus" ? "Expected a number of CPUs" : "Expected a whole number";
  throw new SettingsError(`${variable}=${env[variable]}: ${problem.replace(/^Expected number$/, wanted)}`);
}

export function configFiles(cwd = process.cwd(), env = process.env): { user: string; project: string } {
  return { user: join(configDir(env), "config.json"), project: join(cwd, ".ironclaw", "config.json") };
}

export function defaultSnapshotPath(): string {
  return process.getuid?.() === 0 ? "/var/lib/ironclaw/snapshots" : join(stateDir(), "snapshots");
}

export function loadSettings(options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Settings {
  const env = options.env ?? process.env;
  const files = configFiles(options.cwd, env);
  const sources: string[] = ["defaults"];
  let pool = { size: 5, snapshotRefreshSecs: 3600, snapshotPath: defaultSnapshotPath() };
  let sandbox = { cpus: defaultCpus() };
  let workspace = { maxChangeMiB: 64 };
  for (const file of [files.user, files.project]) {
    if (!existsSync(file)) continue;
    const config = readConfig(file);
    // QEMU and Firecracker trust a snapshot's contents completely: a repository someone cloned
    // must not be able to point IronClaw at VM state of its choosing.
    if (file === files.project && config.pool?.snapshotPath !== undefined) {
      throw new SettingsError(`${file}: pool.snapshotPath cannot be set by a project; set it in ${files.user} or IRONCLAW_SNAPSHOT_PATH`);
    }
    // The CPU limit keeps the machine the user's: a repository someone cloned may lower it, not raise it.
    const cpus = config.sandbox?.cpus;
    if (file === files.project && cpus !== undefined && cpus > sandbox.cpus) {
      throw new SettingsError(`${file}: sandbox.cpus cannot be raised by a project (above ${sandbox.cpus}); set it in ${files.user} or IRONCLAW_CPUS`);
    }
    // The pool keeps warm sandboxes (memory, CPU) on the user's machine: a project may ask for fewer
    // or for less frequent refreshes, never for more.
    if (file === files.project && config.pool?.size !== undefined && config.pool.size > pool.size) {
      throw new SettingsError(`${file}: pool.size cannot be raised by a project (above ${pool.size}); set it in ${files.user} or IRONCLAW_POOL_SIZE`);
    }
    const refresh = config.pool?.snapshotRefreshSecs;
    if (file === files.project && refresh !== undefined && refresh < pool.snapshotRefreshSecs) {
      throw new SettingsError(
        `${file}: pool.snapshotRefreshSecs cannot be shortened by a project (below ${pool.snapshotRefreshSecs}); set it in ${files.user} or IRONCLAW_SNAPSHOT_REFRESH_SECS`,
      );
    }
    // So may the size of what comes back for approval: a project may ask for less, never more.
    const maxChange = config.workspace?.maxChangeMiB;
    if (file === files.project && maxChange !== undefined && maxChange > workspace.maxChangeMiB) {
      throw new SettingsError(
        `${file}: workspace.maxChangeMiB cannot be raised by a project (above ${workspace.maxChangeMiB}); set it in ${files.user} or IRONCLAW_MAX_CHANGE_MIB`,
      );
    }
    pool = { ...pool, ...config.pool };
    sandbox = { ...sandbox, ...config.sandbox };
    workspace = { ...workspace, ...config.workspace };
    sources.push(file);
  }
  const overrides = fromEnv(env);
  if (Object.keys(overrides.pool ?? {}).length || Object.keys(overrides.sandbox ?? {}).length || Object.keys(overrides.workspace ?? {}).length) sources.push("environment");
  return { pool: { ...pool, ...overrides.pool }, sandbox: { ...sandbox, ...overrides.sandbox }, workspace: { ...workspace, ...overrides.workspace }, sources };
}
