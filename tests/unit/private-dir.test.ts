// The run and snapshot directories: a path someone else made first must be refused, because
// whoever owns it could swap in symlinks or reach the VMs' control sockets.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ensurePrivateDir } from "../../actors/sandbox/private-dir.ts";

const roots: string[] = [];
const scratch = () => {
  const root = mkdtempSync(join(tmpdir(), "ironclaw-private-"));
  roots.push(root);
  return root;
};
afterEach(() => roots.splice(0).forEach((r) => rmSync(r, { recursive: true, force: true })));

describe("ensurePrivateDir", () => {
  it("creates a missing directory for the owner alone", () => {
    const dir = join(scratch(), "run", "ironclaw");
    ensurePrivateDir(dir, "set IRONCLAW_RUN_DIR");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("tightens a directory of ours that others could read", () => {
    const dir = join(scratch(), "loose");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    ensurePrivateDir(dir, "set IRONCLAW_RUN_DIR");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("refuses a symlink planted where the directory should be", () => {
    const root = scratch();
    mkdirSync(join(root, "elsewhere"));
    symlinkSync(join(root, "elsewhere"), join(root, "run"));
    expect(() => ensurePrivateDir(join(root, "run"), "set IRONCLAW_RUN_DIR to a directory of your own")).toThrow(
      /run is not a directory \(a symlink or file is in its place\): remove it, or set IRONCLAW_RUN_DIR to a directory of your own$/,
    );
  });

  it.skipIf(process.getuid?.() !== 0)("refuses a directory another user made first", () => {
    const dir = join(scratch(), "theirs");
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    expect(() => ensurePrivateDir(dir, "set IRONCLAW_RUN_DIR")).toThrow(/theirs belongs to uid 65534, not to you \(uid 0\): remove it, or set IRONCLAW_RUN_DIR$/);
  });
});
