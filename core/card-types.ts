// The diff card's shape: what a human is shown at the approval cliff, as plain JSON data. Types
// only, so the inspector's page (type-checked without Node's types) can share them with
// core/diff-card.ts, which builds and hashes cards.

/** A change the sandbox made that will not be applied, and why (".git/ is never written back", "a symbolic link", …). */
export interface SkippedChange {
  readonly path: string;
  readonly kind: string;
  readonly why: string;
}

export type FileStatus = "added" | "modified" | "deleted" | "renamed" | "mode";

/** One side of a file on the card: exact size and SHA-256 of its bytes, and its permission bits. */
export interface FileSide {
  readonly size: number;
  readonly sha256: string;
  readonly mode: number | null;
}

/**
 * What the card shows of a file's content:
 * text: hunks only (no file headers): every line starts with ' ', '+', '-', '@' or '\\';
 * same: renamed or mode: the bytes did not change; binary: not valid UTF-8, or holds NUL;
 * too-large: the diff library gave up (or a side is over maxFileBytes or maxDiffLines); omitted: past the card's
 * bounds (the full diff has it).
 */
export type FileDiff =
  | { readonly kind: "text"; readonly patch: string }
  | { readonly kind: "same" }
  | { readonly kind: "binary" }
  | { readonly kind: "too-large"; readonly beforeLines: number; readonly afterLines: number }
  | { readonly kind: "omitted" };

export interface CardFile {
  readonly path: string;
  readonly status: FileStatus;
  /** renamed: the path the bytes move from (deleted there). */
  readonly from?: string;
  readonly before: FileSide | null;
  readonly after: FileSide | null;
  /** SHA-256 of the host's content (at `from` when renamed) when the copy was taken; null: absent. */
  readonly baseHash: string | null;
  /** Why this file can run code on the host (core/host-code-files.ts); absent: not known to. */
  readonly runsCode?: readonly string[];
  readonly diff: FileDiff;
}

export type DiffCard =
  | {
      kind: "files";
      title: string;
      /** Files that run code on the host first, then the rest; each sorted by path. */
      files: CardFile[];
      notApplied: SkippedChange[];
      /** Not-applied entries beyond maxNotAppliedShown: counted here, listed in the full diff. */
      notAppliedHidden?: number;
      /** Present when diffs were left out: how many and why; the full diff holds them. */
      summarised?: { omitted: number; why: string };
      /** Where the caller saved the full diff (set before hashing). */
      fullDiffFile?: string;
    }
  | { kind: "exec"; title: string; argv: string[]; cwd: string; envNames: string[]; network: boolean }
  | { kind: "mcp"; title: string; server: string; tool: string; argumentsJson: string; annotations?: Record<string, boolean> };
