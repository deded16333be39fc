// The workspace's way back to the host, attacked from both ends. From the sandbox: names no
// directory holds, links, special files, excluded directories, more bytes than the cap, a guest
// that sends more than it listed. On the host: symlinks planted at a parent, at the old
// predictable temporary name, in place of a target after collection; a failure midway. Nothing
// may be written outside the project, and a refused or failed apply leaves it byte for byte as
// it was.
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FileEntry } from "../../guest-agent/guest-protocol.ts";
import { collectChanges, copyIntoSandbox, snapshotProject, type WorkspaceChange } from "../../actors/session/workspace.ts";
import { applyChanges } from "../../actors/session/workspace-apply.ts";
import { tree } from "../support/file-tree.ts";
import { GuestError } from "../../core/errors.ts";

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
const hash = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
const change = (path: string, before: string | null, after: string | null, modes: { before?: number; after?: number } = {}): WorkspaceChange => ({
  path,
  before: before === null ? null : Buffer.from(before),
  after: after === null ? null : Buffer.from(after),
  beforeMode: before === null ? null : (modes.before ?? 0o644),
  afterMode: after === null ? null : (modes.after ?? modes.before ?? 0o644),
  baseHash: before === null ? null : hash(before),
});

// ── a sandbox as the guest channel shows it ─────────────────────────────────────────────

interface Node {
  kind: FileEntry["kind"];
  data?: Buffer;
  mode: number;
  mtimeMs: number;
  /** What a lying guest sends on readFile instead of `data`. */
  sends?: Buffer;
}

/** The sandbox's /workspace in memory, behind the channel calls the workspace makes; it records what was read. */
function sandbox() {
  const nodes = new Map<string, Node>(); // "/workspace/a/b" → node; directories implied by their children
  let clock = 1_000;
  const reads: string[] = [];
  const extra = new Map<string, FileEntry[]>(); // entries a lying guest adds to a listing
  const channel = {
    exec: async () => ({ type: "exit" as const, id: "x", code: 0, signal: null, timedOut: false, truncated: false, outputBytes: 0, durationMs: 0 }),
    writeFile: async (path: string, data: Buffer, mode = 0o644) => {
      nodes.set(path, { kind: "file", data, mode: mode & 0o755, mtimeMs: clock++ }); // the guest's umask 022
    },
    list: async (dir: string): Promise<readonly FileEntry[]> => {
      const children = new Map<string, FileEntry>();
      for (const [path, node] of nodes) {
        if (!path.startsWith(`${dir}/`)) continue;
        const rest = path.slice(dir.length + 1);
        const name = rest.split("/")[0]!;
        const isDir = rest.includes("/");
        children.set(
          name,
          isDir
            ? { name, kind: "directory", size: 4096, mode: 0o755, mtimeMs: 0 }
            : { name, kind: node.kind, size: node.data?.length ?? 0, mode: node.mode, mtimeMs: node.mtimeMs },
        );
      }
      return [...children.values(), ...(extra.get(dir) ?? [])];
    },
    readFile: async (path: string) => {
      reads.push(path);
      const node = nodes.get(path);
      if (!node) throw new GuestError("ENOENT", `no ${path}`);
      return node.sends ?? node.data!;
    },
  };
  const at = (path: string) => `/workspace/${path}`;
  return {
    channel,
    reads,
    extra,
    write: (path: string, content: string | Buffer, mode = 0o644) => nodes.set(at(path), { kind: "file", data: Buffer.from(content), mode, mtimeMs: clock++ }),
    chmod: (path: string, mode: number) => (nodes.get(at(path))!.mode = mode), // chmod changes the ctime, not the mtime
    remove: (path: string) => nodes.delete(at(path)),
    special: (path: string, kind: "symlink" | "other") => nodes.set(at(path), { kind, mode: 0o777, mtimeMs: clock++ }),
    lie: (path: string, sends: Buffer) => (nodes.get(at(path))!.sends = sends),
  };
}

const MiB = 2 ** 20;
const options = { maxBytes: 64 * MiB, capSetting: "workspace.maxChangeMiB in the test's config" };

async function copied(files: Record<string, string>) {
  const root = project(files);
  const snapshot = snapshotProject(root);
  const box = sandbox();
  const baseline = await copyIntoSandbox(box.channel, snapshot);
  box.reads.length = 0;
  return { root, snapshot, box, baseline };
}

describe("collecting the sandbox's changes", () => {
  it("snapshots the project without history, dependencies, IronClaw's config or symlinks", () => {
    const root = project({ "a.js": "1", "src/b.js": "2", ".git/HEAD": "x", "node_modules/m/i.js": "y", ".ironclaw/config.json": "{}" });
    symlinkSync("/etc/passwd", join(root, "link"));
    expect([...snapshotProject(root).files.keys()].sort()).toEqual(["a.js", "src/b.js"]);
  });

  it("finds added, modified and deleted files and a chmod +x, reading only the files that could have changed", async () => {
    const { snapshot, box, baseline } = await copied({ "a.js": "old", "gone.js": "bye", "run.sh": "echo hi", "same.js": "untouched" });
    box.write("a.js", "new");
    box.write("src/new.js", "hi");
    box.remove("gone.js");
    box.chmod("run.sh", 0o755);
    const { changes, skipped } = await collectChanges(box.channel, snapshot, baseline, options);
    expect(skipped).toEqual([]);
    expect(changes.map((c) => [c.path, c.before?.toString() ?? null, c.after?.toString() ?? null, c.beforeMode, c.afterMode])).toEqual([
      ["a.js", "old", "new", 0o644, 0o644],
      ["gone.js", "bye", null, 0o644, null],
      ["run.sh", "echo hi", "echo hi", 0o644, 0o755],
      ["src/new.js", null, "hi", null, 0o644],
    ]);
    expect(box.reads.sort()).toEqual(["/workspace/a.js", "/workspace/src/new.js"]);
  });

  it("keeps the host's mode when only the content changed, and never brings back setuid, setgid or sticky bits", async () => {
    const { root, box } = await copied({ "tool.sh": "v1", "plain.txt": "x" });
    chmodSync(join(root, "tool.sh"), 0o750);
    const snapshot = snapshotProject(root);
    const baseline = await copyIntoSandbox(box.channel, snapshot); // the guest's umask makes it 0o750 & 0o755
    box.write("tool.sh", "v2", 0o750);
    box.chmod("plain.txt", 0o6777);
    const { changes } = await collectChanges(box.channel, snapshot, baseline, options);
    expect(changes.map((c) => [c.path, c.afterMode])).toEqual([
      ["plain.txt", 0o777],
      ["tool.sh", 0o750],
    ]);
  });

  it("lists, with why, every change it will not apply: links, special files, excluded directories at any depth, control characters, files too large to move", async () => {
    // A host file with such a name that the sandbox left alone is no change and not listed.
    const { snapshot, box, baseline } = await copied({ "a.js": "1", "bad\nname.js": "old", "bell\x07/kept.js": "same", "gone\rname.js": "x" });
    box.remove("gone\rname.js");
    box.special("link", "symlink");
    box.special("fifo", "other");
    box.write(".git/hooks/pre-commit", "#!/bin/sh\ncurl evil");
    box.write(".git/config", "x");
    box.write("packages/p/node_modules/dep/index.js", "y");
    box.write(".ironclaw/config.json", "{}");
    box.write("vendor/lib/.hg/hgrc", "[hooks]\npre-status=curl evil");
    box.write("bad\nname.js", "new");
    box.write("evil\x1b[2Jdir/inside.js", "z");
    box.write("big.bin", Buffer.alloc(5 * MiB));
    const { changes, skipped } = await collectChanges(box.channel, snapshot, baseline, options);
    expect(changes).toEqual([]);
    expect(skipped).toEqual([
      { path: ".git/", kind: "directory", why: expect.stringMatching(/^2 files under \.git\/, version history/) },
      { path: ".ironclaw/", kind: "directory", why: expect.stringMatching(/^1 file under \.ironclaw\/, IronClaw's own config/) },
      { path: "bad\nname.js", kind: "file", why: "the name holds control characters" },
      { path: "big.bin", kind: "file", why: "5 MiB, over 4 MiB: the most IronClaw moves in one file" },
      { path: "evil\x1b[2Jdir/inside.js", kind: "file", why: "the name holds control characters" },
      { path: "fifo", kind: "special file", why: expect.stringMatching(/regular files only/) },
      { path: "gone\rname.js", kind: "file", why: "deleted in the sandbox, but the name holds control characters" },
      { path: "link", kind: "symbolic link", why: "IronClaw never creates links in your project" },
      { path: "packages/p/node_modules/", kind: "directory", why: expect.stringMatching(/^1 file under node_modules\/, installed dependencies/) },
      { path: "vendor/lib/.hg/", kind: "directory", why: expect.stringMatching(/^1 file under \.hg\/, version control: its config and hooks run/) },
    ]);
    expect(box.reads).toEqual([]);
  });

  it("refuses changes over the cap before reading a byte, and says where the cap is set", async () => {
    const { snapshot, box, baseline } = await copied({ "a.js": "1" });
    box.write("one.bin", Buffer.alloc(3 * MiB));
    box.write("two.bin", Buffer.alloc(3 * MiB));
    const refused = collectChanges(box.channel, snapshot, baseline, { ...options, maxBytes: 5 * MiB });
    await expect(refused).rejects.toMatchObject({
      code: "ECAP",
      message: "the sandbox's changes add up to 6 MiB, over the 5 MiB cap (workspace.maxChangeMiB in the test's config); nothing was applied",
    });
    expect(box.reads).toEqual([]);
  });

  it("holds a guest that sends more than it listed to the cap", async () => {
    const { snapshot, box, baseline } = await copied({ "a.js": "1" });
    box.write("small.txt", "tiny");
    box.lie("small.txt", Buffer.alloc(2 * MiB));
    await expect(collectChanges(box.channel, snapshot, baseline, { ...options, maxBytes: MiB })).rejects.toMatchObject({ code: "ECAP" });
  });

  it.each([[".."], ["."], [""], ["a/b"], ["x\0y"], ["n".repeat(256)]])("refuses a listing that holds the name %j", async (name) => {
    const { snapshot, box, baseline } = await copied({ "a.js": "1" });
    box.extra.set("/workspace", [{ name, kind: "file", size: 1, mode: 0o644, mtimeMs: 1 }]);
    await expect(collectChanges(box.channel, snapshot, baseline, options)).rejects.toMatchObject({
      code: "ENAME",
      message: expect.stringMatching(/cannot be trusted; nothing was applied$/),
    });
    expect(box.reads).toEqual([]);
  });

  it("stops when the session is cancelled", async () => {
    const { snapshot, box, baseline } = await copied({ "a.js": "1" });
    box.write("a.js", "2");
    await expect(collectChanges(box.channel, snapshot, baseline, { ...options, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("applying approved changes", () => {
  it("applies added, modified and deleted files and mode changes, and leaves no temporary file", () => {
    const root = project({ "a.js": "old", "gone.js": "bye", "run.sh": "echo" });
    const report = applyChanges(root, [
      change("a.js", "old", "new"),
      change("src/deep/new.js", null, "hi"),
      change("gone.js", "bye", null),
      change("run.sh", "echo", "echo", { after: 0o755 }),
    ]);
    expect(report).toEqual({ written: ["a.js", "src/deep/new.js", "run.sh"], deleted: ["gone.js"] });
    expect(tree(root)).toEqual({
      "a.js": `file 644 ${hash("new")}`,
      "run.sh": `file 755 ${hash("echo")}`,
      src: expect.stringMatching(/^dir /),
      "src/deep": expect.stringMatching(/^dir /),
      "src/deep/new.js": `file 644 ${hash("hi")}`,
    });
  });

  it("refuses the whole apply when one host file changed since the copy", () => {
    const root = project({ "a.js": "old", "b.js": "edited by the user meanwhile" });
    const before = tree(root);
    expect(() => applyChanges(root, [change("a.js", "old", "new"), change("b.js", "original", "agent's")])).toThrow(
      /^b\.js changed on the host since the sandbox's copy was taken \(its content changed\): nothing was applied/,
    );
    expect(tree(root)).toEqual(before);
  });

  it("refuses when the host's mode changed since the copy", () => {
    const root = project({ "a.sh": "x" });
    chmodSync(join(root, "a.sh"), 0o755);
    expect(() => applyChanges(root, [change("a.sh", "x", "y")])).toThrow(expect.objectContaining({ code: "EBASE", message: expect.stringMatching(/its mode changed/) }));
  });

  it.each([["../outside.js"], ["src/../../outside.js"], ["/etc/passwd"], [".git/hooks/pre-commit"], ["node_modules/x/index.js"], ["a/.ironclaw/config.json"], ["bad\nname"]])(
    "refuses to write %j",
    (path) => {
      const root = project({ "a.js": "1" });
      expect(() => applyChanges(root, [change("a.js", "1", "2"), change(path, null, "pwned")])).toThrow(
        expect.objectContaining({ code: "ENAME", message: expect.stringMatching(/^refusing to write/) }),
      );
      expect(readFileSync(join(root, "a.js"), "utf8")).toBe("1");
      expect(existsSync(join(root, "..", "outside.js"))).toBe(false);
    },
  );

  it("does not follow a parent directory that is a symlink to outside the project", () => {
    const root = project({ "a.js": "1", "src/real/keep.js": "k" });
    const elsewhere = project({});
    symlinkSync(elsewhere, join(root, "link"));
    symlinkSync(elsewhere, join(root, "src", "real", "deeper"));
    for (const path of ["link/planted.sh", "src/real/deeper/planted.sh", "src/real/deeper/new/dir/planted.sh"]) {
      expect(() => applyChanges(root, [change("a.js", "1", "2"), change(path, null, "pwned")])).toThrow(expect.objectContaining({ code: "ELINK" }));
    }
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readFileSync(join(root, "a.js"), "utf8")).toBe("1");
  });

  it("writes nothing through a link planted at the old, predictable temporary name", () => {
    const root = project({ "notes.txt": "mine" });
    const outside = project({ "victim.txt": "keep" });
    // The name apply used to write to before renaming: `${target}.ironclaw-${pid}.tmp`.
    symlinkSync(join(outside, "victim.txt"), join(root, `notes.txt.ironclaw-${process.pid}.tmp`));
    symlinkSync(join(outside, "created.txt"), join(root, `new.txt.ironclaw-${process.pid}.tmp`));
    applyChanges(root, [change("notes.txt", "mine", "approved"), change("new.txt", null, "approved")]);
    expect(readFileSync(join(outside, "victim.txt"), "utf8")).toBe("keep");
    expect(existsSync(join(outside, "created.txt"))).toBe(false);
    expect(readFileSync(join(root, "notes.txt"), "utf8")).toBe("approved");
    expect(readFileSync(join(root, "new.txt"), "utf8")).toBe("approved");
  });

  it("refuses a target replaced by a symlink after collection, and a new file's place taken by one", () => {
    const root = project({ "notes.txt": "mine" });
    const outside = project({ "secret.txt": "keep" });
    rmSync(join(root, "notes.txt"));
    symlinkSync(join(outside, "secret.txt"), join(root, "notes.txt"));
    symlinkSync(join(outside, "fresh.txt"), join(root, "fresh.txt"));
    expect(() => applyChanges(root, [change("notes.txt", "mine", "pwned")])).toThrow(
      expect.objectContaining({ code: "ELINK", message: expect.stringMatching(/^notes\.txt is a symbolic link on the host/) }),
    );
    expect(() => applyChanges(root, [change("fresh.txt", null, "pwned")])).toThrow(expect.objectContaining({ code: "ELINK" }));
    expect(() => applyChanges(root, [change("notes.txt", "mine", null)])).toThrow(expect.objectContaining({ code: "ELINK" }));
    expect(tree(outside)).toEqual({ "secret.txt": `file 644 ${hash("keep")}` });
  });

  it("refuses a deletion whose path is a directory now", () => {
    const root = project({ "gone/inside.txt": "x" });
    expect(() => applyChanges(root, [change("gone", "was a file", null)])).toThrow(
      expect.objectContaining({ code: "EBASE", message: expect.stringMatching(/it is a directory now/) }),
    );
    expect(existsSync(join(root, "gone", "inside.txt"))).toBe(true);
  });

  it("keeps writing into the directory it checked when a parent is swapped for a link midway", () => {
    const root = project({ "a.js": "1", "sub/b.js": "2" });
    const outside = project({});
    applyChanges(root, [change("a.js", "1", "one"), change("sub/b.js", "2", "two")], {
      onPlaced: (path) => {
        if (path !== "a.js") return;
        renameSync(join(root, "sub"), join(root, "sub-moved"));
        symlinkSync(outside, join(root, "sub"));
      },
    });
    expect(readdirSync(outside)).toEqual([]);
    expect(readFileSync(join(root, "sub-moved", "b.js"), "utf8")).toBe("two");
  });

  it("leaves the project byte for byte unchanged when the second of two files cannot be staged", () => {
    const root = project({ "a.js": "1", "taken/x": "a directory where a file must go" });
    const before = tree(root);
    expect(() => applyChanges(root, [change("new/dir/first.js", null, "1"), change("taken", null, "2")])).toThrow(
      expect.objectContaining({ code: "EBASE", message: expect.stringMatching(/^taken changed on the host .*a directory is there now/) }),
    );
    expect(tree(root)).toEqual(before);
  });

  it("rolls back what it placed when writing fails midway, leaving the project byte for byte unchanged", () => {
    const root = project({ "a.js": "old", "c.js": "doomed", "d.sh": "run" });
    chmodSync(join(root, "d.sh"), 0o755);
    const before = tree(root);
    const changes = [change("a.js", "old", "new"), change("b/new.js", null, "added"), change("c.js", "doomed", null), change("d.sh", "run", "changed", { before: 0o755 })];
    expect(() =>
      applyChanges(root, changes, {
        onPlaced: (path) => {
          if (path === "c.js") throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
        },
      }),
    ).toThrow(
      expect.objectContaining({ code: "EAPPLY", message: expect.stringMatching(/^writing c\.js failed \(ENOSPC: .*\); what was written was put back: nothing was applied$/) }),
    );
    expect(tree(root)).toEqual(before);
  });

  it("refuses one path changed twice", () => {
    const root = project({});
    expect(() => applyChanges(root, [change("a", null, "1"), change("a", null, "2")])).toThrow(expect.objectContaining({ code: "ENAME" }));
    expect(tree(root)).toEqual({});
  });
});
