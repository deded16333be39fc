// The approval card: what it holds (plain JSON data), how it renders on a terminal (colour only
// when asked, escapes always visible), and the action hash an approval binds to: any change to
// the tool, an argument, a diff line or a base hash changes it, and key order does not.
import { describe, expect, it } from "vitest";
import { actionHash, canonicalJson, execCard, filesCard, isBinary, mcpCard, renderCard, sha256Hex, type DiffCard, type FileChange } from "../../src/diff-card.ts";
import { visible } from "../../src/terminal-text.ts";

const ESC = "\x1b";
const change = (path: string, before: string | null, after: string | null): FileChange => ({ path, before, after, baseHash: before === null ? null : sha256Hex(before) });

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
  it("gives each change a status, its base hash and a unified diff against the host's content, sorted by path", () => {
    const card = filesCard([change("src/b.ts", "one\ntwo\n", "one\nthree\n"), change("a.txt", null, "new\n"), change("old.txt", "gone\n", null)]);
    expect(card).toEqual({
      kind: "files",
      title: "Write 3 files to the host (1 added, 1 modified, 1 deleted)",
      changes: [
        { path: "a.txt", status: "added", baseHash: null, patch: "--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1,1 @@\n+new\n" },
        { path: "old.txt", status: "deleted", baseHash: sha256Hex("gone\n"), patch: "--- a/old.txt\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-gone\n" },
        { path: "src/b.ts", status: "modified", baseHash: sha256Hex("one\ntwo\n"), patch: "--- a/src/b.ts\n+++ b/src/b.ts\n@@ -1,2 +1,2 @@\n one\n-two\n+three\n" },
      ],
    });
    // Plain data: what the web inspector will get is exactly this.
    expect(JSON.parse(JSON.stringify(card))).toEqual(card);
    expect(filesCard([change("x", "a", "b")]).title).toBe("Write 1 file to the host (1 modified)");
  });

  it("says how a binary file changed instead of a patch, naming the new content", () => {
    const card = filesCard([change("logo.png", "\x89PNG\0\0\x01", "\x89PNG\0\0\x02\x03")]);
    expect(card.kind === "files" && card.changes[0]!.patch).toBe(`binary file changed (8 bytes → 9 bytes; new sha256 ${sha256Hex("\x89PNG\0\0\x02\x03")})`);
    const added = filesCard([change("a.bin", null, "\0\0")]);
    expect(added.kind === "files" && added.changes[0]!.patch).toMatch(/^binary file added \(2 bytes; new sha256 [0-9a-f]{64}\)$/);
    const deleted = filesCard([change("a.bin", "\0", null)]);
    expect(deleted.kind === "files" && deleted.changes[0]!.patch).toBe("binary file deleted (1 byte)");
  });

  it("refuses a change with neither before nor after", () => {
    expect(() => filesCard([{ path: "x", before: null, after: null, baseHash: null }])).toThrow("x: a change needs before or after content (both are null)");
  });
});

describe("isBinary", () => {
  it("is git's NUL test, and for bytes also invalid UTF-8", () => {
    expect(isBinary("plain text\n")).toBe(false);
    expect(isBinary("a\0b")).toBe(true);
    expect(isBinary(Buffer.from("héllo ✓\n"))).toBe(false);
    expect(isBinary(Buffer.from([0x48, 0x00, 0x49]))).toBe(true);
    expect(isBinary(Buffer.from([0xff, 0xfe, 0x41]))).toBe(true);
    expect(isBinary(`${"x".repeat(9000)}\0`)).toBe(false);
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
    const card = mcpCard({ server: "github", tool: "create_issue", args: { title: "Bug", body: "x", labels: ["a"] }, annotations: { readOnlyHint: false, openWorldHint: undefined, destructiveHint: true } });
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
  const files = (lines: string, base = "one\n") => filesCard([{ path: "a.txt", before: base, after: lines, baseHash: sha256Hex(base) }]);
  const base = { tool: "apply", args: { paths: ["a.txt"], message: "fix" }, card: files("one\ntwo\n") };
  const hash = actionHash(base);

  it("is SHA-256 hex over the canonical JSON of tool, arguments and card", () => {
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(sha256Hex(canonicalJson({ tool: base.tool, args: base.args, card: base.card })));
    expect(actionHash({ ...base })).toBe(hash);
  });

  it("does not depend on key order", () => {
    const reversed = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reversed) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v;
    const reordered = { card: reversed(base.card) as DiffCard, args: { message: "fix", paths: ["a.txt"] }, tool: "apply" };
    expect(JSON.stringify(reordered.card)).not.toBe(JSON.stringify(base.card));
    expect(actionHash(reordered)).toBe(hash);
    const a = mcpCard({ server: "s", tool: "t", args: { x: 1, y: { b: 2, a: 1 } } });
    const b = mcpCard({ server: "s", tool: "t", args: { y: { a: 1, b: 2 }, x: 1 } });
    expect(actionHash({ tool: "t", args: { x: 1, y: { b: 2, a: 1 } }, card: a })).toBe(actionHash({ tool: "t", args: { y: { a: 1, b: 2 }, x: 1 }, card: b }));
  });

  it("changes when the tool, any argument, any diff line or a base hash changes", () => {
    const variants = [
      { ...base, tool: "apply2" },
      { ...base, args: { ...base.args, message: "fix!" } },
      { ...base, args: { ...base.args, paths: ["a.txt", "b.txt"] } },
      { ...base, args: { ...base.args, extra: null } },
      { ...base, card: files("one\ntwo \n") },
      { ...base, card: files("one\ntwo\nthree\n") },
      { ...base, card: files("one\ntwo") },
      { ...base, card: files("one\ntwo\n", "One\n") },
      { ...base, card: filesCard([{ path: "a.txt", before: "one\n", after: "one\ntwo\n", baseHash: sha256Hex("other") }]) },
      { ...base, card: filesCard([{ path: "b.txt", before: "one\n", after: "one\ntwo\n", baseHash: sha256Hex("one\n") }]) },
    ];
    const hashes = new Set([hash, ...variants.map(actionHash)]);
    expect(hashes.size).toBe(variants.length + 1);
  });

  it("tells apart two binary changes of the same size", () => {
    const bin = (after: string) => actionHash({ tool: "apply", args: {}, card: filesCard([change("x.bin", "\0a", after)]) });
    expect(bin("\0b")).not.toBe(bin("\0c"));
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
  const card = filesCard([change("src/a.ts", "one\ntwo\n", "one\nthree\n")]);

  it("colours added lines green, removed red, headers bold when asked", () => {
    const out = renderCard(card, { color: true });
    expect(out).toContain(`${ESC}[32m+three${ESC}[39m`);
    expect(out).toContain(`${ESC}[31m-two${ESC}[39m`);
    expect(out).toContain(`${ESC}[1m--- a/src/a.ts${ESC}[22m`);
  });

  it("gives plain text with no escape codes without colour (NO_COLOR, not a TTY)", () => {
    const cards: DiffCard[] = [
      card,
      execCard({ argv: ["sh", "-c", "echo 'hi'"], cwd: "/w", envNames: ["TOKEN"], network: true }),
      mcpCard({ server: "gh", tool: "t", args: { a: 1 }, annotations: { readOnlyHint: true } }),
      filesCard([]),
    ];
    for (const c of cards) expect(renderCard(c, { color: false })).not.toContain(ESC);
    expect(renderCard(card, { color: false, width: 40 })).toBe(
      [
        "── Write 1 file to the host (1 modified) ",
        "modified src/a.ts  base sha256 " + sha256Hex("one\ntwo\n").slice(0, 12),
        "--- a/src/a.ts",
        "+++ b/src/a.ts",
        "@@ -1,2 +1,2 @@",
        " one",
        "-two",
        "+three",
        "",
      ].join("\n").replace("(1 modified) ", `(1 modified) ${"─".repeat(Math.max(2, 40 - "── Write 1 file to the host (1 modified) ".length))}`),
    );
    expect(renderCard(cards[1]!, { color: false })).toContain("command   sh -c 'echo '\\''hi'\\'''\n");
    expect(renderCard(cards[1]!, { color: false })).toContain("network   yes: the command may reach the network\n");
    expect(renderCard(cards[2]!, { color: false })).toContain('arguments\n{\n  "a": 1\n}\n');
    expect(renderCard(cards[3]!, { color: false })).toContain("(no changes)");
  });

  it("shows control and bidi characters from the content as escapes, never raw", () => {
    const hostile = filesCard([change("evil\x1b[2J.txt", "ok\n", "ok\x1b[2K\rall fine \u202eexe.txt\n")]);
    const out = renderCard(hostile, { color: false });
    expect(out).not.toContain(ESC);
    expect(out).not.toContain("\r");
    expect(out).not.toContain("\u202e");
    expect(out).toContain("+ok\\x1b[2K\\rall fine \\u202eexe.txt");
    expect(out).toContain("modified evil\\x1b[2J.txt");
    expect(visible("tab\tstays")).toBe("tab\tstays");
    expect(visible("a\u{e0041}b ✓ é")).toBe("a\\u{e0041}b ✓ é");
    const call = renderCard(mcpCard({ server: "s", tool: "t", args: { x: "\u0085\u200b" } }), { color: true });
    expect(call).not.toMatch(/[\u0085\u200b]/);
  });
});
