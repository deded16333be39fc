// Where IronClaw keeps things on the host, following the XDG base directory spec.
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function stateDir(): string {
  if (process.env.IRONCLAW_STATE_DIR) return process.env.IRONCLAW_STATE_DIR;
  const base = process.env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(base, "ironclaw");
}

/** The user's config dir ($XDG_CONFIG_HOME/ironclaw): config.json, and the audit log's key and heads. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "ironclaw");
}

/**
 * Per-sandbox work directories (sockets included): short-lived, so in the user's runtime dir,
 * else under the temp dir — where the name is guessable, so its owner is checked before use
 * (actors/sandbox/private-dir.ts).
 */
export function runDir(): string {
  if (process.env.IRONCLAW_RUN_DIR) return process.env.IRONCLAW_RUN_DIR;
  if (process.env.XDG_RUNTIME_DIR) return join(process.env.XDG_RUNTIME_DIR, "ironclaw");
  return join(tmpdir(), `ironclaw-${process.getuid?.() ?? "user"}`);
}

/** The package root: this file runs from core/ (tests) or bundled into dist/ (the CLI), one level down either way. */
export function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..");
}

export function guestAgentPath(): string {
  return join(packageRoot(), "dist", "guest-agent.mjs");
}
