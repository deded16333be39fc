// Which programs a stdio MCP server entry may start. A config file is data that arrives with
// a cloned repository, so the command is checked before anything is spawned: a launcher from a
// short allow-list (or one the user added in their own config), or an executable inside the
// project; never shell syntax, because IronClaw passes argv straight to spawn and runs no shell.
import { realpathSync } from "node:fs";
import { isAbsolute, relative } from "node:path";

export const BUILTIN_LAUNCHERS = ["npx", "node", "python3", "uvx", "cargo"] as const;

const SHELL_SYNTAX = /[\s;&|`$<>(){}[\]*?!~'"\\#]/;

/** Why `command` may not be started, or null when it may. */
export function checkCommand(command: string, policy: { projectDir: string; allowed: readonly string[] }): string | null {
  const allowed = [...BUILTIN_LAUNCHERS, ...policy.allowed];
  const listed = `allowed: ${allowed.join(", ")}, or an executable inside the project`;
  if (command === "") return `is empty (${listed})`;
  const meta = SHELL_SYNTAX.exec(command);
  if (meta) {
    return `${JSON.stringify(command)} contains shell syntax (${JSON.stringify(meta[0])}); put the program in command and each argument in args: IronClaw runs no shell`;
  }
  if (allowed.includes(command)) return null;
  if (!command.includes("/")) {
    return `${JSON.stringify(command)} is not an allowed launcher (${listed}); to allow it, add it to mcp.allowedCommands in your user config`;
  }
  if (!isAbsolute(command)) return `${JSON.stringify(command)} must be an absolute path (or a launcher name: ${listed})`;
  let real: string;
  try {
    real = realpathSync(command);
  } catch {
    return `${command} does not exist`;
  }
  const inside = relative(realpathSync(policy.projectDir), real);
  if (inside && !inside.startsWith("..") && !isAbsolute(inside)) return null;
  return `${command} is outside the project (${listed}); to allow it, add it to mcp.allowedCommands in your user config`;
}
