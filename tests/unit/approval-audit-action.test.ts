// What the audit log says an answer at the cliff was about: for an apply, every file of the card
// the human saw with the hash, size and mode of the bytes written, and what was not applied; for
// a red tool call, the tool and its arguments. Bounded: past the caps the rest are counted.
import { describe, expect, it } from "vitest";
import { approvalAuditAction, MAX_AUDITED_ARGS_CHARS, MAX_AUDITED_FILES } from "../../machines/approval-audit.ts";
import { canonicalJson } from "../../core/canonical-json.ts";
import { sha256Hex } from "../../core/hash.ts";
import { filesCard, type CardFile, type DiffCard, type FileChange } from "../../core/diff-card.ts";

const change = (path: string, before: string | null, after: string | null, afterMode: number | null = after === null ? null : 0o644): FileChange => ({
  path,
  before: before === null ? null : Buffer.from(before),
  after: after === null ? null : Buffer.from(after),
  beforeMode: before === null ? null : 0o644,
  afterMode,
  baseHash: before === null ? null : sha256Hex(before),
});

describe("approvalAuditAction", () => {
  it("an apply: each file's path, status and the SHA-256, size and mode of the bytes written; the changes not applied", async () => {
    const { card } = await filesCard(
      [
        change("src/a.js", "old\n", "new\n"),
        change("added.txt", null, "hello\n"),
        change("gone.txt", "bye\n", null),
        change("moved/from.txt", "same bytes\n", null),
        change("moved/to.txt", null, "same bytes\n"),
        change("run.sh", "echo\n", "echo\n", 0o755),
      ],
      [{ path: ".git/config", kind: "modified", why: ".git/ is never written back" }],
    );
    const action = approvalAuditAction("apply 5 changed file(s)", { kind: "apply", card: { ...card, fullDiffFile: "/state/full.diff" } });
    const side = (text: string, mode: number) => ({ sha256: sha256Hex(text), size: Buffer.byteLength(text), mode });
    expect(action).toEqual({
      kind: "apply",
      summary: "apply 5 changed file(s)",
      files: expect.arrayContaining([
        { path: "src/a.js", status: "modified", after: side("new\n", 0o644) },
        { path: "added.txt", status: "added", after: side("hello\n", 0o644) },
        { path: "gone.txt", status: "deleted", after: null },
        { path: "moved/to.txt", status: "renamed", from: "moved/from.txt", after: side("same bytes\n", 0o644) },
        { path: "run.sh", status: "mode", after: side("echo\n", 0o755) },
      ]),
      notApplied: [{ path: ".git/config", kind: "modified", why: ".git/ is never written back" }],
      fullDiffFile: "/state/full.diff",
    });
    // In the card's order (files that run code on the host first), and nothing of the diffs.
    expect("files" in action && action.files.map((f) => f.path)).toEqual(card.files.map((f) => f.path));
    expect(JSON.stringify(action)).not.toContain("+new");
  });

  it("an apply of more files than the cap lists the first ones and counts the rest, with the card's hidden not-applied", () => {
    const n = MAX_AUDITED_FILES + 3;
    const files: CardFile[] = Array.from({ length: n }, (_, i) => ({
      path: `f${i}`,
      status: "added",
      before: null,
      after: { size: 1, sha256: sha256Hex(String(i)), mode: 0o644 },
      baseHash: null,
      diff: { kind: "omitted" },
    }));
    const notApplied = Array.from({ length: n }, (_, i) => ({ path: `l${i}`, kind: "symlink", why: "a symbolic link" }));
    const card: DiffCard = { kind: "files", title: "t", files, notApplied, notAppliedHidden: 7 };
    const action = approvalAuditAction("apply", { kind: "apply", card });
    expect(action).toMatchObject({ filesHidden: 3, notAppliedHidden: 3 + 7 });
    expect("files" in action && [action.files.length, action.notApplied.length, action.files.at(-1)]).toEqual([
      MAX_AUDITED_FILES,
      MAX_AUDITED_FILES,
      { path: `f${MAX_AUDITED_FILES - 1}`, status: "added", after: { size: 1, sha256: sha256Hex(String(MAX_AUDITED_FILES - 1)), mode: 0o644 } },
    ]);
  });

  it("a red tool call: the tool and its arguments; arguments past the cap by hash and length", () => {
    const call = { id: "c1", name: "github__create_issue", arguments: { repo: "o/r", body: "x\ny" } };
    expect(approvalAuditAction("github__create_issue {…}", { kind: "tool", call })).toEqual({
      tool: "github__create_issue",
      summary: "github__create_issue {…}",
      args: call.arguments,
    });
    const big = { content: "a".repeat(MAX_AUDITED_ARGS_CHARS) };
    const json = canonicalJson(big);
    expect(approvalAuditAction("write", { kind: "tool", call: { id: "c2", name: "files__write_file", arguments: big } })).toEqual({
      tool: "files__write_file",
      summary: "write",
      argsSha256: sha256Hex(json),
      argsChars: json.length,
    });
  });

  it("an apply whose card is not a files card keeps its summary only", () => {
    expect(approvalAuditAction("apply 1 file", { kind: "apply", card: { kind: "exec" } })).toEqual({ kind: "apply", summary: "apply 1 file" });
  });
});
