// Which projects the user has trusted to start their MCP servers. A project's config arrives
// with a cloned repository, so nothing in it launches, connects or reads a host variable until
// the user has seen it and said yes (src/cli/project-trust-gate.ts, `ironclaw trust`). Trust is
// given to one exact config: the project's real path and the SHA-256 of its config file's bytes.
// Any change to the file, one byte, is a different config, and the user is asked again.
//
// The store is the user's own state (not the project's, which the repository could write):
// `trusted-projects.json`, 0600, in a 0700 directory of the state dir, replaced atomically
// (temp file, fsync, rename), so a crash leaves the old store or the new one, never half of one.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { sha256Hex } from "../../core/hash.ts";
import { dirname, join, resolve } from "node:path";
import { Result, Schema } from "effect";
import { ensurePrivateDir } from "../../actors/sandbox/private-dir.ts";
import { stateDir } from "../../core/paths.ts";
import { schemaProblem } from "../../core/schema-problem.ts";
import { SettingsError } from "../../core/errors.ts";

export interface TrustedProject {
  /** The project directory's real path. */
  readonly dir: string;
  /** SHA-256 (hex) of the exact bytes of the config the user trusted. */
  readonly sha256: string;
  /** When the user trusted it (ISO 8601). */
  readonly trustedAt: string;
}

const Sha256 = Schema.String.check(Schema.makeFilter((s: string) => /^[0-9a-f]{64}$/.test(s) || "must be 64 lowercase hex digits"));
const StoreFile = Schema.Struct({
  version: Schema.Literal(1),
  projects: Schema.Array(Schema.Struct({ dir: Schema.String, sha256: Sha256, trustedAt: Schema.String })),
});
type StoreFile = typeof StoreFile.Type;
const decodeStore = Schema.decodeUnknownResult(StoreFile as never, { onExcessProperty: "error" } as never) as (u: unknown) => Result.Result<StoreFile, Error>;

export function trustStoreFile(): string {
  return join(stateDir(), "trust", "trusted-projects.json");
}

/** The SHA-256 that trust is given to: of the file's exact bytes, nothing normalised. */
export function configSha256(bytes: Uint8Array): string {
  return sha256Hex(bytes);
}

/** A project's key: its real path (a symlink or `..` reaches the same entry), or the resolved path when it is gone. */
export function projectKey(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

function corrupt(file: string, why: string): SettingsError {
  return new SettingsError(`${file}: not a trust store IronClaw can read (${why}, "ETRUSTSTORE"); remove it to start over (every project's MCP servers then ask again)`);
}

/** Every trusted project; none when the store does not exist yet. */
export function listTrusted(file = trustStoreFile()): TrustedProject[] {
  if (!existsSync(file)) return [];
  const stat = statSync(file);
  const uid = process.getuid?.();
  // Whoever can write the store can trust any project for the user.
  if (uid !== undefined && stat.uid !== uid) throw corrupt(file, `it belongs to uid ${stat.uid}, not to you`);
  if (stat.mode & 0o022) throw corrupt(file, `others may write it (mode ${(stat.mode & 0o777).toString(8)})`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw corrupt(file, `not valid JSON: ${(err as Error).message}`);
  }
  const result = decodeStore(json);
  if (Result.isFailure(result)) {
    const { path, problem } = schemaProblem(result.failure);
    throw corrupt(file, `${path ? `${path}: ` : ""}${problem}`);
  }
  return [...result.success.projects];
}

/** The trust given to `dir`, whichever config it was for; null when none. */
export function trustOf(dir: string, file = trustStoreFile()): TrustedProject | null {
  const key = projectKey(dir);
  return listTrusted(file).find((p) => p.dir === key) ?? null;
}

/** Whether the user trusted exactly this config (by its hash) for `dir`. */
export function isTrusted(dir: string, sha256: string, file = trustStoreFile()): boolean {
  return trustOf(dir, file)?.sha256 === sha256;
}

/** Trusts `dir`'s config of hash `sha256`, replacing what the project was trusted with before. */
export function grantTrust(dir: string, sha256: string, file = trustStoreFile()): TrustedProject {
  const entry: TrustedProject = { dir: projectKey(dir), sha256, trustedAt: new Date().toISOString() };
  write(file, [...listTrusted(file).filter((p) => p.dir !== entry.dir), entry]);
  return entry;
}

/** Forgets `dir`; whether it was trusted. */
export function revokeTrust(dir: string, file = trustStoreFile()): boolean {
  const key = projectKey(dir);
  const projects = listTrusted(file);
  const kept = projects.filter((p) => p.dir !== key);
  if (kept.length === projects.length) return false;
  write(file, kept);
  return true;
}

function write(file: string, projects: readonly TrustedProject[]): void {
  const dir = dirname(file);
  try {
    ensurePrivateDir(dir, "set IRONCLAW_STATE_DIR to a directory of your own");
  } catch (err) {
    throw new SettingsError(`cannot keep the trust store in ${dir}: ${(err as Error).message}`, "ETRUSTSTORE");
  }
  const body: StoreFile = { version: 1, projects };
  // Exclusive and unpredictable: nothing planted at the temp name is followed or overwritten.
  const temp = join(dir, `.trusted-projects.${randomBytes(8).toString("hex")}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(temp, "wx", 0o600);
    writeSync(fd, `${JSON.stringify(body, null, 2)}\n`);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temp, file);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    rmSync(temp, { force: true });
    throw new SettingsError(`${file}: cannot write the trust store: ${(err as Error).message}`, "ETRUSTSTORE");
  }
  // The rename itself survives a crash only once the directory is on disk.
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
