// The workspace's way back to the host, attacked: a change whose base moved, a path that climbs
// out, a directory that is a symlink on the host, a symlink in the project. Nothing may be
// written outside the project, and a refused apply writes nothing at all.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyChanges, snapshotProject, type WorkspaceChange } from "../../actors/workspace.ts";

const roots: string[] = [];
afterEach(() => roots.splice(0).forEach((r) => rmSync(r, { recursive: true, force: true })));
function project(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), "ironclaw-ws-"));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}
const hash = (s: string) => createHash("sha256").update(s).digest("hex");
const change = (path: string, before: string | null, after: string | null): WorkspaceChange => ({
  path,
  before: before === null ? null : Buffer.from(before),
  after: after === null ? null : Buffer.from(after),
  baseHash: before === null ? null : hash(before),
  mode: 0o644,
});

describe("workspace", () => {
  it("snapshots the project without history, dependencies, IronClaw's config or symlinks", () => {
    const root = project({ "a.js": "1", "src/b.js": "2", ".git/HEAD": "x", "node_modules/m/i.js": "y", ".ironclaw/config.json": "{}" });
    symlinkSync("/etc/passwd", join(root, "link"));
    expect([...snapshotProject(root).files.keys()].sort()).toEqual(["a.js", "src/b.js"]);
  });

  it("applies added, modified and deleted files", () => {
    const root = project({ "a.js": "old", "gone.js": "bye" });
    applyChanges(root, [change("a.js", "old", "new"), change("src/new.js", null, "hi"), change("gone.js", "bye", null)]);
    expect(readFileSync(join(root, "a.js"), "utf8")).toBe("new");
    expect(readFileSync(join(root, "src/new.js"), "utf8")).toBe("hi");
    expect(existsSync(join(root, "gone.js"))).toBe(false);
  });

  it("refuses the whole apply when one host file changed since the copy", () => {
    const root = project({ "a.js": "old", "b.js": "edited by the user meanwhile" });
    expect(() => applyChanges(root, [change("a.js", "old", "new"), change("b.js", "original", "agent's")])).toThrow(
      /^b\.js changed on the host since the sandbox's copy was taken: nothing was applied/,
    );
    expect(readFileSync(join(root, "a.js"), "utf8")).toBe("old");
  });

  it.each([["../outside.js"], ["src/../../outside.js"], [".git/hooks/pre-commit"], ["node_modules/x/index.js"]])("refuses to write %s", (path) => {
    const root = project({ "a.js": "1" });
    expect(() => applyChanges(root, [change(path, null, "pwned")])).toThrow(/refusing to write/);
    expect(existsSync(join(root, "..", "outside.js"))).toBe(false);
  });

  it("does not follow a directory that is a symlink on the host", () => {
    const root = project({ "a.js": "1" });
    const elsewhere = project({});
    symlinkSync(elsewhere, join(root, "link"));
    expect(() => applyChanges(root, [change("link/planted.sh", null, "pwned")])).toThrow(/link is not a directory on the host/);
    expect(existsSync(join(elsewhere, "planted.sh"))).toBe(false);
  });

  it("does not overwrite through a file that is a symlink on the host", () => {
    const root = project({});
    const target = project({ "secret.txt": "keep" });
    symlinkSync(join(target, "secret.txt"), join(root, "notes.txt"));
    expect(() => applyChanges(root, [change("notes.txt", null, "pwned")])).toThrow(/changed on the host/);
    expect(readFileSync(join(target, "secret.txt"), "utf8")).toBe("keep");
  });
});
