// Where IronClaw keeps things on the host, following the XDG base directory spec.
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function stateDir(): string {
  if (process.env.IRONCLAW_STATE_DIR) return process.env.IRONCLAW_STATE_DIR;
  const base = process.env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(base, "ironclaw");
}

/** Per-sandbox work directories: short-lived, so under the temp dir, private to this user. */
export function runDir(): string {
  return process.env.IRONCLAW_RUN_DIR ?? join(tmpdir(), `ironclaw-${process.getuid?.() ?? "user"}`);
}

/** The package root: this file runs from src/ (tests) or bundled into dist/ (the CLI), one level down either way. */
export function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..");
}

export function guestAgentPath(): string {
  return join(packageRoot(), "dist", "guest-agent.mjs");
}
