// What a human sees at the approval cliff, and the hash an approval binds to. A card is plain
// JSON-serialisable data (the terminal renders it here; the web inspector shows the same data),
// and actionHash covers the card itself: every patch, the base hashes it applies to and the
// SHA-256 of the exact bytes of both sides of every file, so an answer given for one change can
// never approve another, even one that renders the same.
import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical-json.ts";
import { sha256Hex } from "./hash.ts";
import { plural } from "./plural.ts";
import { isUtf8 } from "node:buffer";
import { formatPatch, OMIT_HEADERS, structuredPatch } from "diff";
import { EXECUTABLE_REASON, hostCodeReasons, WRITABLE_REASON } from "./host-code-files.ts";
import { renderFullDiff, type FullDiffFile } from "./card-render.ts";
import { hasControlCharacters, oneLine } from "./terminal-text.ts";
import type { CardFile, DiffCard, FileDiff, FileSide, FileStatus, SkippedChange } from "./card-types.ts";

export type { CardFile, DiffCard, FileDiff, FileSide, FileStatus, SkippedChange } from "./card-types.ts";

// The input (issue 12): exact bytes and modes of both sides, plus the changes that will not be
// applied. `filesCard` is async and bounded (CardLimits): it yields to the event loop and stops at
// once when its signal aborts. The shapes below are what actors/ code against; keep them stable.

/** One file the session changed, as the workspace found it. */
export interface FileChange {
  /** Relative to the project root, '/'-separated, exactly as found (may hold control characters). */
  readonly path: string;
  /** Exact bytes; null: absent on that side (added / deleted). */
  readonly before: Buffer | null;
  readonly after: Buffer | null;
  /** Permission bits (0o777) on each side; null where absent. */
  readonly beforeMode: number | null;
  readonly afterMode: number | null;
  /** SHA-256 hex of the host's content when the copy was taken; null: absent. */
  readonly baseHash: string | null;
}

/** How much work and text one card may take; past a bound the card is summarised (see filesCard). */
export interface CardLimits {
  /** Patch text the card shows, over all files (UTF-16 code units, about bytes). */
  readonly maxPatchChars: number;
  /** Patch lines the card shows, over all files. */
  readonly maxPatchLines: number;
  /** A side larger than this (bytes) is not diffed: "too large to diff". */
  readonly maxFileBytes: number;
  /**
   * A side with more lines than this is not diffed either: the diff library splits its input into
   * lines before its own limits apply, in one synchronous call (about a second per 100,000 lines).
   */
  readonly maxDiffLines: number;
  /** The diff library's maxEditLength per file (lines added plus removed it searches for). */
  readonly maxEditLength: number;
  /** The diff library's timeout per file, in milliseconds. */
  readonly fileTimeoutMs: number;
  /** Time for the whole card; after it, no more diffs are computed (the rest are summarised). */
  readonly totalTimeMs: number;
  /** Not-applied entries the card lists one by one; the rest are counted and in the full diff. */
  readonly maxNotAppliedShown: number;
  /** The full diff's diffs, in all (UTF-16 code units, and lines); past them a file is shown by size and SHA-256. */
  readonly maxFullDiffChars: number;
  readonly maxFullDiffLines: number;
}

export interface FilesCardResult {
  readonly card: DiffCard & { kind: "files" };
  /**
   * The complete diff as text when the card had to be summarised (null otherwise): the caller
   * saves it to a file and sets card.fullDiffFile before hashing the card.
   */
  readonly fullDiff: string | null;
}

// ── the action hash ──────────────────────────────────────────────────────────────────────

/** The value with every object's keys in sorted order, for pretty-printing it canonically. */
function sortedCopy(value: unknown): unknown {
  return JSON.parse(canonicalJson(value));
}

/**
 * SHA-256 (hex) over the canonical JSON of the exact action: the tool, its arguments, and the
 * card (for files: every patch and the base hash each applies to). Any change gives a new hash.
 */
export function actionHash(action: { tool: string; args: unknown; card: DiffCard }): string {
  return sha256Hex(canonicalJson({ tool: action.tool, args: action.args, card: action.card }));
}

// ── cards ────────────────────────────────────────────────────────────────────────────────

/**
 * Text or not: a string is binary if a NUL is in its first 8000 characters (git's test); a Buffer
 * if it holds a NUL anywhere or is not valid UTF-8 (it is never decoded to U+FFFD text).
 */
export function isBinary(content: string | Buffer): boolean {
  if (typeof content === "string") return content.slice(0, 8000).includes("\0");
  return content.includes(0) || !isUtf8(content);
}

export const DEFAULT_CARD_LIMITS: CardLimits = {
  maxPatchChars: 1 << 20,
  maxPatchLines: 20_000,
  maxFileBytes: 16 << 20,
  maxDiffLines: 50_000,
  maxEditLength: 5_000,
  fileTimeoutMs: 1_000,
  totalTimeMs: 5_000,
  maxNotAppliedShown: 500,
  maxFullDiffChars: 16 << 20,
  maxFullDiffLines: 500_000,
};

const CONTROL_CHARACTERS = "the name holds control characters";

/**
 * Why a change at `path` will not be applied, or null: a name with control characters (it would
 * forge text wherever it is shown) or one that is not a plain relative path inside the project.
 * The workspace refuses to write exactly these; the card lists them as not applied.
 */
export function refusedName(path: string): string | null {
  if (hasControlCharacters(path)) return CONTROL_CHARACTERS;
  if (path.startsWith("/") || path.split("/").some((part) => part === "" || part === "." || part === "..")) return "the name is not a plain path inside the project";
  return null;
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

// Work in pieces of this size between yields, so a big file cannot hold the event loop.
const CHUNK = 4 << 20;

interface Pace {
  /** Let timers and signals run; throws an AbortError if the signal fired. */
  step(): Promise<void>;
  readonly deadline: number;
}

function pace(signal: AbortSignal | undefined, totalTimeMs: number): Pace {
  const check = () => {
    if (signal?.aborted) throw new DOMException("building the diff card was stopped", { name: "AbortError", cause: signal.reason });
  };
  check();
  return {
    deadline: Date.now() + totalTimeMs,
    step: () =>
      new Promise<void>((resolve, reject) =>
        setImmediate(() => {
          try {
            check();
            resolve();
          } catch (error) {
            reject(error);
          }
        }),
      ),
  };
}

async function sideOf(content: Buffer | null, mode: number | null, p: Pace): Promise<FileSide | null> {
  if (content === null) return null;
  const hash = createHash("sha256");
  for (let at = 0; at < content.length; at += CHUNK) {
    hash.update(content.subarray(at, at + CHUNK));
    if (content.length > CHUNK) await p.step();
  }
  return { size: content.length, sha256: hash.digest("hex"), mode };
}

async function lineCount(content: Buffer | null, p: Pace): Promise<number> {
  if (!content?.length) return 0;
  let lines = 0;
  for (let at = content.indexOf(10); at !== -1; at = content.indexOf(10, at + 1)) {
    lines++;
    if (lines % 1_000_000 === 0) await p.step();
  }
  return content.at(-1) === 10 ? lines : lines + 1;
}

/**
 * A file's diff for the card, and for the full diff: the same, or "whole" when the card's time ran
 * out before it was diffed (the full diff then shows the whole file replaced, which costs only its
 * length). A file the diff library gave up on, or over maxFileBytes or maxDiffLines, is shown by
 * its line counts, sizes and hashes in both.
 */
async function diffOf(change: FileChange, status: FileStatus, limits: CardLimits, p: Pace): Promise<{ card: FileDiff; full: FileDiff | "whole" }> {
  const before = change.before ?? Buffer.alloc(0);
  const after = change.after ?? Buffer.alloc(0);
  if (status === "renamed" || status === "mode" || before.equals(after)) return { card: { kind: "same" }, full: { kind: "same" } };
  if (isBinary(before) || isBinary(after)) return { card: { kind: "binary" }, full: { kind: "binary" } };
  const tooLarge: FileDiff = { kind: "too-large", beforeLines: await lineCount(change.before, p), afterLines: await lineCount(change.after, p) };
  const tooMany = Math.max(tooLarge.beforeLines, tooLarge.afterLines) > limits.maxDiffLines;
  if (before.length > limits.maxFileBytes || after.length > limits.maxFileBytes || tooMany) return { card: tooLarge, full: tooLarge };
  await p.step();
  const left = p.deadline - Date.now();
  if (left <= 0) return { card: { kind: "omitted" }, full: "whole" };
  const options = { context: 3, maxEditLength: limits.maxEditLength, timeout: Math.min(limits.fileTimeoutMs, left) };
  const hunks = structuredPatch("", "", before.toString("utf8"), after.toString("utf8"), undefined, undefined, options);
  await p.step();
  const patch: FileDiff = hunks ? { kind: "text", patch: formatPatch(hunks, OMIT_HEADERS) } : tooLarge;
  return { card: patch, full: patch };
}

const STATUSES: readonly FileStatus[] = ["added", "modified", "deleted", "renamed", "mode"];

function titleOf(files: readonly CardFile[], notApplied: number): string {
  const counts = STATUSES.map((s) => [s, files.filter((f) => f.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s === "mode" ? "mode changed" : s}`);
  const skipped = notApplied > 0 ? `${counts.length ? "; " : ""}${plural(notApplied, "change")} not applied` : "";
  return `Write ${plural(files.length, "file")} to the host${counts.length || skipped ? ` (${counts.join(", ")}${skipped})` : ""}`;
}

const executable = (mode: number | null) => mode !== null && (mode & 0o111) !== 0;
const othersMayWrite = (mode: number | null) => mode !== null && (mode & 0o022) !== 0;

/**
 * The card for writing a session's changes back to the host. Every file gets a summary line
 * (status, sizes, modes, SHA-256 of the exact bytes of both sides); files that run code on the
 * host come first, with their reasons; every change that will not be applied is listed with why;
 * then the diffs, until the card's bounds (limits) are reached: past them the card is summarised
 * and `fullDiff` holds the complete text. Async: it yields between files and inside big ones, and
 * rejects with an AbortError as soon as `signal` aborts.
 */
export async function filesCard(
  changes: readonly FileChange[],
  skipped: readonly SkippedChange[],
  options: { signal?: AbortSignal; limits?: Partial<CardLimits> } = {},
): Promise<FilesCardResult> {
  const limits = { ...DEFAULT_CARD_LIMITS, ...options.limits };
  const p = pace(options.signal, limits.totalTimeMs);

  const notApplied = new Map<string, SkippedChange>();
  const note = (s: SkippedChange) => notApplied.set(canonicalJson([s.path, s.kind, s.why]), { path: s.path, kind: s.kind, why: s.why });
  skipped.forEach(note);

  // Sides first (hashes are what the card binds), then renames: a deletion and an addition of
  // the same non-empty bytes.
  interface Entry {
    change: FileChange;
    before: FileSide | null;
    after: FileSide | null;
    from?: FileChange;
  }
  const entries: Entry[] = [];
  for (const change of [...changes].sort(byPath)) {
    if (change.before === null && change.after === null) throw new TypeError(`${oneLine(change.path)}: a change needs before or after content (both are null)`);
    const refused = refusedName(change.path);
    if (refused) {
      note({ path: change.path, kind: "file", why: refused });
      continue;
    }
    entries.push({ change, before: await sideOf(change.before, change.beforeMode, p), after: await sideOf(change.after, change.afterMode, p) });
    await p.step();
  }
  const deletions = entries.filter((e) => e.after === null && e.before!.size > 0);
  const renamedAway = new Set<Entry>();
  for (const added of entries.filter((e) => e.before === null && e.after!.size > 0)) {
    const source = deletions.find((d) => !renamedAway.has(d) && d.before!.sha256 === added.after!.sha256);
    if (!source) continue;
    renamedAway.add(source);
    added.from = source.change;
    added.before = source.before;
  }

  const described = entries
    .filter((e) => !renamedAway.has(e))
    .map((e) => {
      const status: FileStatus = e.from
        ? "renamed"
        : !e.before
          ? "added"
          : !e.after
            ? "deleted"
            : e.before.sha256 === e.after.sha256 && e.before.mode !== e.after.mode
              ? "mode"
              : "modified";
      const reasons = new Set([...hostCodeReasons(e.change.path), ...(e.from ? hostCodeReasons(e.from.path) : [])]);
      if (e.after && executable(e.after.mode) && !executable(e.before?.mode ?? null)) reasons.add(EXECUTABLE_REASON);
      if (e.after && othersMayWrite(e.after.mode) && !othersMayWrite(e.before?.mode ?? null)) reasons.add(WRITABLE_REASON);
      return { ...e, status, runsCode: [...reasons] };
    });
  const ordered = [...described.filter((e) => e.runsCode.length > 0), ...described.filter((e) => e.runsCode.length === 0)];

  const files: CardFile[] = [];
  const fullFiles: FullDiffFile[] = [];
  let chars = 0;
  let lines = 0;
  let omitted = 0;
  let overBound = false;
  let timedOut = false;
  for (const e of ordered) {
    // Same bytes at a new path or with new permission bits: nothing to diff, but a file that runs
    // code was not reviewed as that (notes.txt renamed to .envrc), so its content is shown whole.
    const asAdded = e.runsCode.length > 0 && (e.status === "renamed" || e.status === "mode");
    const { card, full } = await diffOf(asAdded ? { ...e.change, before: null } : e.change, asAdded ? "added" : e.status, limits, p);
    let shown = card;
    if (card.kind === "omitted") timedOut = true;
    if (card.kind === "text") {
      const size = card.patch.length;
      const count = card.patch.split("\n").length - 1;
      overBound ||= chars + size > limits.maxPatchChars || lines + count > limits.maxPatchLines;
      if (overBound) shown = { kind: "omitted" };
      else {
        chars += size;
        lines += count;
      }
    }
    if (shown.kind === "omitted") omitted++;
    const base: Omit<CardFile, "diff"> = {
      path: e.change.path,
      status: e.status,
      ...(e.from && { from: e.from.path }),
      before: e.before,
      after: e.after,
      baseHash: e.from ? e.from.baseHash : e.change.baseHash,
      ...(e.runsCode.length > 0 && { runsCode: e.runsCode }),
    };
    files.push({ ...base, diff: shown });
    fullFiles.push(full === "whole" ? { file: { ...base, diff: { kind: "omitted" } }, whole: e.change } : { file: { ...base, diff: full } });
  }

  const allNotApplied = [...notApplied.values()].sort((a, b) => byPath(a, b) || (a.why < b.why ? -1 : a.why > b.why ? 1 : 0));
  const hidden = Math.max(0, allNotApplied.length - limits.maxNotAppliedShown);
  const title = titleOf(files, allNotApplied.length);
  const why = [
    overBound && `the card shows at most ${plural(limits.maxPatchLines, "line")} and ${plural(Math.round(limits.maxPatchChars / 1024), "KiB", "KiB")} of diff`,
    timedOut && `the card's ${plural(limits.totalTimeMs / 1000, "second")} for diffing ran out`,
    files.some((f) => f.diff.kind === "too-large") && "some files are too large to diff line by line",
    hidden > 0 && `the card lists at most ${plural(limits.maxNotAppliedShown, "change")} not applied`,
  ].filter((w): w is string => typeof w === "string");
  const summarised = omitted > 0 || hidden > 0;
  const card: DiffCard & { kind: "files" } = {
    kind: "files",
    title,
    files,
    notApplied: allNotApplied.slice(0, limits.maxNotAppliedShown),
    ...(hidden > 0 && { notAppliedHidden: hidden }),
    ...(summarised && { summarised: { omitted, why: why.join("; ") } }),
  };
  if (!summarised) return { card, fullDiff: null };
  const fullDiff = await renderFullDiff({ title, files: fullFiles, notApplied: allNotApplied }, { maxChars: limits.maxFullDiffChars, maxLines: limits.maxFullDiffLines }, p.step);
  return { card, fullDiff };
}

export function execCard(a: { argv: readonly string[]; cwd: string; envNames: readonly string[]; network: boolean }): DiffCard {
  return {
    kind: "exec",
    title: a.network ? "Run a command in the sandbox, with network access" : "Run a command in the sandbox",
    argv: [...a.argv],
    cwd: a.cwd,
    envNames: [...a.envNames],
    network: a.network,
  };
}

export function mcpCard(a: { server: string; tool: string; args: unknown; annotations?: Record<string, boolean | undefined> }): DiffCard {
  const annotations = Object.fromEntries(
    Object.entries(a.annotations ?? {})
      .filter((e): e is [string, boolean] => typeof e[1] === "boolean")
      .sort(([x], [y]) => (x < y ? -1 : 1)),
  );
  return {
    kind: "mcp",
    title: `Call ${a.tool} on MCP server ${a.server}`,
    server: a.server,
    tool: a.tool,
    // Sorted keys: the same arguments always read (and hash) the same.
    argumentsJson: JSON.stringify(sortedCopy(a.args ?? {}), null, 2),
    ...(Object.keys(annotations).length > 0 && { annotations }),
  };
}
