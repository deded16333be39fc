// Copies of examples/fix-tests for tests that run `ironclaw run` on it, with a script of model
// turns beside it (outside the project, so the session's copy of the project does not hold it).
// Every copy is removed by removeExampleProjects() (call it in afterAll).
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const made: string[] = [];

/**
 * A copy of the example whose MCP servers are the user's (in a config of the copy's own, see
 * userConfig), where a server may run on the host and be trusted: by default the filesystem
 * server of this checkout, trusted. The copy's own config declares none, so nothing asks for trust.
 */
export function exampleProject(servers?: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "ironclaw-run-"));
  made.push(dir, `${dir}.config`);
  cpSync(join(root, "examples", "fix-tests"), dir, { recursive: true });
  // A host server starts in an empty directory unless told otherwise: this one serves the copy.
  const files = { command: "node", args: [join(root, "node_modules", "@modelcontextprotocol", "server-filesystem", "dist", "index.js"), "."], cwd: dir, trusted: true };
  writeFileSync(join(dir, ".ironclaw", "config.json"), JSON.stringify({ mcpServers: {} }));
  mkdirSync(join(`${dir}.config`, "ironclaw"), { recursive: true });
  writeFileSync(join(`${dir}.config`, "ironclaw", "config.json"), JSON.stringify({ mcpServers: servers ?? { files } }));
  return dir;
}

/** The environment that makes the example project's servers the user's: its XDG_CONFIG_HOME. */
export function userConfig(dir: string): { XDG_CONFIG_HOME: string } {
  return { XDG_CONFIG_HOME: `${dir}.config` };
}

export function script(dir: string, turns: unknown[]): string {
  const file = join(dir, "..", `${relative(tmpdir(), dir)}.script.json`);
  writeFileSync(file, JSON.stringify({ turns }));
  made.push(file);
  return file;
}

export function removeExampleProjects(): void {
  for (const path of made.splice(0)) rmSync(path, { recursive: true, force: true });
}

/** The fix of the example's bug, as the model's apply_patch sends it. */
export const FIX_PATCH = [
  "--- src/cart.js",
  "+++ src/cart.js",
  "@@ -2,5 +2,4 @@",
  " export function total(items, discountPercent = 0) {",
  "   const sum = items.reduce((acc, item) => acc + item.priceCents * item.quantity, 0);",
  "-  // Bug: the discount is added instead of taken off.",
  "-  return Math.round(sum + (sum * discountPercent) / 100);",
  "+  return Math.round(sum - (sum * discountPercent) / 100);",
  " }",
  "",
].join("\n");

export const FIXED_LINE = "return Math.round(sum - (sum * discountPercent) / 100);";
