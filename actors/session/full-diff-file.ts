// The full diff of a card too large to show whole (core/diff-card.ts summarises it). The card
// names this file, so a human can read every line before approving, and the name is part of the
// card the approval's hash covers. Named by session and content, kept after the session (what
// was approved stays readable beside the audit log), in a directory only this user can read,
// and removed once a week old, when the next one is saved.
import { readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256Hex } from "../../core/hash.ts";
import { stateDir } from "../../core/paths.ts";
import { ensurePrivateDir } from "../sandbox/private-dir.ts";

const KEPT_MS = 7 * 24 * 3600 * 1000;

export function fullDiffDir(): string {
  return join(stateDir(), "cards");
}

/** Saves `text` (0600) and returns its path. */
export function saveFullDiff(sessionId: string, text: string): string {
  const dir = fullDiffDir();
  ensurePrivateDir(dir, "set IRONCLAW_STATE_DIR to a directory of your own");
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const old = join(dir, name);
    try {
      if (name.endsWith(".diff") && now - statSync(old).mtimeMs > KEPT_MS) rmSync(old, { force: true });
    } catch {
      // removed meanwhile by another run
    }
  }
  const file = join(dir, `${sessionId.replace(/[^\w-]/g, "_")}-${sha256Hex(text).slice(0, 12)}.diff`);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}
