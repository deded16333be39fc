// Project trust at the command line. A repository's .ironclaw/config.json may declare MCP
// servers; loadMcpConfig leaves them out until the user trusts that exact file. The gate runs
// before a command that would start, connect or interpolate them (`run`, `up`, `mcp list|tools|
// call`): on a terminal it shows everything the servers would be given and asks; without one it
// refuses with a line saying how to review them (`ironclaw trust`), and `mcp list` lists the
// user's servers and says the project's were not started. Every piece of the config shown is
// the repository's text, so it reaches the terminal only through oneLine.
import { isAbsolute, relative } from "node:path";
import { createInterface } from "node:readline/promises";
import { ExitCode } from "../../core/exit-codes.ts";
import { readProjectMcp, type ProjectMcpConfig, type ProjectServer } from "../config/mcp-config.ts";
import { grantTrust } from "../config/project-trust.ts";
import { foldLine, oneLine, TERMINAL_RESET, terminalColumns } from "../../core/terminal-text.ts";
import { discardTypeahead, say } from "./cli-io.ts";
import { SettingsError, UntrustedError, UsageError } from "../../core/errors.ts";

export const TRUST_QUESTION = "Trust this project's MCP servers? [y/N] ";

/** A word of a command line as a person would type it: quoted when it holds anything but plain characters. */
function word(text: string): string {
  return /^[\w@%+=:,./${}-]+$/.test(text) ? text : `"${text.replace(/["\\]/g, "\\$&")}"`;
}

const inside = (dir: string, path: string) => {
  const rel = relative(dir, path);
  return !rel.startsWith("..") && !isAbsolute(rel);
};

function serverLines(server: ProjectServer, dir: string): string[] {
  const where = (path: string) => `${path}${inside(dir, path) ? "" : " (outside the project)"}`;
  const lines: string[] = [];
  if (server.transport === "stdio") {
    const sees = [server.cwd, ...(isAbsolute(server.command) ? [server.command.replace(/\/[^/]*$/, "") || "/"] : []), ...server.sandboxPaths];
    lines.push(`${server.name}: a local server, started in a sandbox${server.sandboxBackend ? ` (${server.sandboxBackend})` : ""}: no network, its own scratch thrown away`);
    lines.push(`    command line: ${[server.command, ...server.args].map(word).join(" ")}`);
    lines.push(`    cwd: ${where(server.cwd)}`);
    lines.push(`    sees read-only: ${[...new Set(sees)].map(where).join(", ")}`);
    for (const [name, value] of Object.entries(server.env)) lines.push(`    env ${name}=${value}`);
  } else {
    lines.push(`${server.name}: a remote server, connected from this machine (${server.legacySse ? "HTTP+SSE" : "Streamable HTTP"})`);
    lines.push(`    url: ${server.url}`);
    for (const [name, value] of Object.entries(server.headers)) lines.push(`    header ${name}: ${value}`);
    if (server.oauth) lines.push("    signs in with OAuth, through your browser");
  }
  if (server.variables.length) lines.push(`    reads host variables: ${server.variables.join(", ")}`);
  return lines;
}

/** What trusting the project's config gives its servers, every line of it kept to one line. */
export function reviewText(project: ProjectMcpConfig): string {
  const n = project.servers.length;
  const lines = [
    `${project.file} declares ${n} MCP server${n === 1 ? "" : "s"} (config sha256 ${project.sha256.slice(0, 12)}); trusting this exact file lets IronClaw start or connect:`,
    ...project.servers.flatMap((s) => serverLines(s, project.dir).map((l) => `  ${l}`)),
    "A sandboxed server's tool calls run without asking: it cannot change anything outside its sandbox, but reads what it sees for the model.",
    "Any change to the file asks again.",
  ];
  // Folded to the terminal's width, so no line of the repository's text wraps into a row of its own.
  const columns = terminalColumns(process.stderr);
  return lines.map((l) => `${columns ? foldLine(oneLine(l), columns, "      ↳ ") : oneLine(l)}\n`).join("");
}

/** Asks a yes/no question on the terminal; anything but y or yes, or the end of input, is no. Ctrl-C exits 130. */
export async function askYes(question: string): Promise<boolean> {
  await discardTypeahead(); // a key pressed before the question was shown answers nothing
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // Nothing has started yet: Ctrl-C at the question ends the command there.
  rl.once("SIGINT", () => {
    process.stderr.write("\n");
    process.exit(ExitCode.interrupted);
  });
  const ended = new Promise<string>((resolve) => rl.once("close", () => resolve("")));
  try {
    const answer = await Promise.race([rl.question(`${process.stderr.isTTY ? TERMINAL_RESET : ""}ironclaw: ${question}`), ended]);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export const interactive = () => Boolean(process.stdin.isTTY && process.stderr.isTTY);

/** What the gate decided: no project servers concern this command, the user trusts them, or they are left out. */
export type GateOutcome = "none" | "trusted" | "declined";

export interface GateOptions {
  /** `mcp tools|call SERVER`: only that server matters (a user's server needs no gate). */
  readonly server?: string;
  /** `mcp list`: without a terminal, leave the project's servers out and say so instead of refusing. */
  readonly listing?: boolean;
  /** The user has already declined (the daemon `up` starts after asking): leave them out. */
  readonly declined?: boolean;
}

export async function projectTrustGate(options: GateOptions = {}): Promise<GateOutcome> {
  let project: ProjectMcpConfig | null;
  try {
    project = readProjectMcp().project;
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
  if (!project || project.servers.length === 0) return "none";
  if (options.server !== undefined && !project.servers.some((s) => s.name === options.server)) return "none";
  if (project.trusted) return "trusted";
  if (options.declined) return "declined";
  const names = project.servers.map((s) => s.name).join(", ");
  const refusal = `${project.file} declares MCP servers (${names}) this project has not been trusted to run; review them with: ironclaw trust`;
  if (!interactive()) {
    if (!options.listing) throw new UntrustedError(oneLine(refusal));
    say(`${refusal}; not started`);
    return "declined";
  }
  process.stderr.write(`${TERMINAL_RESET}${reviewText(project)}`);
  if (await askYes(TRUST_QUESTION)) {
    try {
      grantTrust(project.dir, project.sha256);
    } catch (err) {
      if (err instanceof SettingsError) throw new UsageError(err.message); // the store, named
      throw err;
    }
    say(`trusted ${project.file} (sha256 ${project.sha256.slice(0, 12)})`);
    return "trusted";
  }
  if (options.server !== undefined) throw new UntrustedError(oneLine(`MCP server ${options.server} not started: ${project.file} is not trusted`));
  say(`continuing without the project's MCP servers (${names}); review them again with: ironclaw trust`);
  return "declined";
}
