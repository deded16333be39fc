// `ironclaw trust [DIR]`: review the MCP servers a project's config declares and trust that exact
// file to start them (`--yes` without asking), `--revoke` the trust, or `--list` the trusted
// projects. The store and what trust means: src/config/project-trust.ts; the review: the gate's.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ExitCode } from "../../core/exit-codes.ts";
import { readProjectMcp, type ProjectMcpConfig } from "../config/mcp-config.ts";
import { configSha256, grantTrust, listTrusted, revokeTrust, trustOf } from "../config/project-trust.ts";
import { configFiles, readConfigBytes } from "../config/settings.ts";
import { oneLine, safeJson } from "../../core/terminal-text.ts";
import { askYes, interactive, reviewText, TRUST_QUESTION } from "./project-trust-gate.ts";
import { SettingsError, UsageError } from "../../core/errors.ts";

export interface TrustOptions {
  readonly yes: boolean;
  readonly revoke: boolean;
  readonly list: boolean;
  readonly json: boolean;
}

const print = (line: string) => process.stdout.write(`${line}\n`);

function settingsOrUsage<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
}

/** Whether a trusted project's config is still the one trusted: "current", "changed", or "gone". */
function standing(dir: string, sha256: string): "current" | "changed" | "gone" {
  const file = configFiles(dir).project;
  if (!existsSync(file)) return "gone";
  try {
    return configSha256(readConfigBytes(file)) === sha256 ? "current" : "changed";
  } catch {
    return "changed"; // no longer a regular file of a config's size
  }
}

function list(json: boolean): number {
  const projects = settingsOrUsage(() => listTrusted()).map((p) => ({ ...p, config: standing(p.dir, p.sha256) }));
  if (json) print(safeJson({ projects }));
  else if (!projects.length) print("no trusted projects");
  else {
    const note = { current: "", changed: "  (config changed since: asks again)", gone: "  (no config there now)" };
    for (const p of projects) print(oneLine(`${p.sha256.slice(0, 12)}  ${p.trustedAt}  ${p.dir}${note[p.config]}`));
  }
  return ExitCode.ok;
}

function revoke(dir: string, json: boolean): number {
  const revoked = settingsOrUsage(() => revokeTrust(dir));
  if (json) print(safeJson({ dir, revoked }));
  else print(oneLine(revoked ? `forgot ${dir}: its MCP servers ask again before they start` : `${dir} was not trusted`));
  return ExitCode.ok;
}

function grant(project: ProjectMcpConfig, json: boolean): number {
  const entry = settingsOrUsage(() => grantTrust(project.dir, project.sha256));
  if (json) print(safeJson({ file: project.file, dir: entry.dir, sha256: entry.sha256, trusted: true, trustedAt: entry.trustedAt }));
  else print(oneLine(`trusted ${project.file} (sha256 ${project.sha256.slice(0, 12)}): its MCP servers may start; a change to it asks again`));
  return ExitCode.ok;
}

export async function runTrust(dirArg: string | undefined, opts: TrustOptions): Promise<number> {
  if (Number(opts.list) + Number(opts.revoke) + Number(opts.yes) > 1) throw new UsageError("trust takes one of --yes, --revoke and --list");
  if (opts.list) {
    if (dirArg !== undefined) throw new UsageError("trust --list takes no directory");
    return list(opts.json);
  }
  const dir = resolve(dirArg ?? ".");
  if (!existsSync(dir)) throw new UsageError(`${dir} does not exist`);
  if (opts.revoke) return revoke(dir, opts.json);
  // Checked as every command checks it: a config with something a project may not say is refused, not trusted.
  const { project } = settingsOrUsage(() => readProjectMcp({ cwd: dir }));
  if (!project || project.servers.length === 0) {
    const file = project?.file ?? configFiles(dir).project;
    if (opts.json) print(safeJson({ file, servers: [], trusted: false }));
    else print(oneLine(`${file} declares no MCP servers: nothing to trust`));
    return ExitCode.ok;
  }
  if (opts.json && !opts.yes) {
    print(safeJson({ file: project.file, dir: project.dir, sha256: project.sha256, trusted: project.trusted, servers: project.servers }));
    return project.trusted ? ExitCode.ok : ExitCode.untrusted;
  }
  if (!opts.json) process.stdout.write(reviewText(project));
  if (project.trusted) {
    const since = settingsOrUsage(() => trustOf(dir))?.trustedAt;
    if (opts.json) print(safeJson({ file: project.file, dir: project.dir, sha256: project.sha256, trusted: true, trustedAt: since }));
    else print(`already trusted${since ? ` (since ${since})` : ""}`);
    return ExitCode.ok;
  }
  if (opts.yes) return grant(project, opts.json);
  if (!interactive()) {
    print("not a terminal: nothing trusted; after reviewing the servers above, trust them with: ironclaw trust --yes");
    return ExitCode.untrusted;
  }
  if (await askYes(TRUST_QUESTION)) return grant(project, false);
  print("not trusted: the project's MCP servers will not start");
  return ExitCode.untrusted;
}
