// A diff card (core/diff-card.ts) drawn for a terminal: the summary of every file, the files that
// run code on the host, what will not be applied, then the diffs, every line folded to the
// terminal's width. Presentation only — the card's data and its action hash are decided in
// diff-card.ts; the web inspector draws the same data with its own code (src/inspector/ui/card.ts).
import { styleText } from "node:util";
import type { CardFile, DiffCard, FileChange, SkippedChange } from "./diff-card.ts";
import { oneLine, visible } from "./terminal-text.ts";

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
const executable = (mode: number | null) => mode !== null && (mode & 0o111) !== 0;

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

type Style = Parameters<typeof styleText>[0];
/** A run of a line's text and its style (null: plain). */
type Piece = readonly [Style | null, string];
type Line = readonly Piece[];

// A terminal wraps a line wider than itself, and the wrapped rest starts a row of its own: a long
// name or diff line could so draw a row that reads as IronClaw's. So every line is folded here
// first, each continuation row starting with ↳, with columns counted pessimistically (any
// non-ASCII character 2, a tab 8): the terminal never wraps before IronClaw has.
const CONTINUED = "↳ ";
const columnsOf = (ch: string) => (ch === "\t" ? 8 : ch < "\x80" ? 1 : 2);
const columns = (text: string) => [...text].reduce((n, ch) => n + columnsOf(ch), 0);

function fold(line: Line, width: number): Line[] {
  if (line.reduce((n, [, text]) => n + text.length, 0) * 8 <= width) return [line];
  const rows: Line[] = [];
  let row: Piece[] = [];
  let used = 0;
  for (const [style, text] of line) {
    let run = "";
    for (const ch of text) {
      if (used + columnsOf(ch) > width && used > CONTINUED.length) {
        if (run) row.push([style, run]);
        rows.push(row);
        row = [["dim", CONTINUED]];
        run = "";
        used = CONTINUED.length;
      }
      run += ch;
      used += columnsOf(ch);
    }
    if (run) row.push([style, run]);
  }
  rows.push(row);
  return rows;
}

const octal = (mode: number) => mode.toString(8).padStart(4, "0");
const size = (n: number) => plural(n, "byte");

// The mode is shown when it changes, when a new file is executable, and whenever it is not one of
// the two usual ones (0644, 0755): apply writes it as the sandbox set it.
const usualMode = (mode: number) => mode === 0o644 || mode === 0o755;

function sizesOf(file: CardFile): string {
  const { before, after } = file;
  const sizes = before && after && file.status === "modified" ? `${before.size.toLocaleString("en-US")} → ${size(after.size)}` : size((after ?? before)!.size);
  const modes =
    before && after && before.mode !== null && after.mode !== null && before.mode !== after.mode
      ? `, mode ${octal(before.mode)} → ${octal(after.mode)}`
      : after?.mode != null && (!usualMode(after.mode) || (!before && executable(after.mode)))
        ? `, mode ${octal(after.mode)}`
        : "";
  return sizes + modes;
}

const nameOf = (file: CardFile) => (file.from !== undefined ? `${oneLine(file.from)} → ${oneLine(file.path)}` : oneLine(file.path));

// Every line IronClaw writes in the diffs part starts with a character no patch line can start
// with (a patch line starts with ' ', '+', '-', '@' or '\'), so file content cannot pass for it.
function diffHeader(file: CardFile, lines: Line[]): void {
  const base = file.baseHash ? `  base sha256 ${file.baseHash.slice(0, 12)}` : "";
  lines.push(
    [],
    [
      ["bold", `── ${file.status} ${nameOf(file)}`],
      ["dim", base],
    ],
  );
}

function hashLines(file: CardFile, lines: Line[]): void {
  if (file.before) lines.push([[null, `sha256 before ${file.before.sha256}`]]);
  if (file.after) lines.push([[null, `sha256 after  ${file.after.sha256}`]]);
}

function renderDiff(file: CardFile, lines: Line[]): void {
  const { diff } = file;
  if (diff.kind === "same" || diff.kind === "omitted") return;
  diffHeader(file, lines);
  const hashes = () => hashLines(file, lines);
  switch (diff.kind) {
    case "binary":
      lines.push([["dim", `binary (not shown as text): ${sizesOf(file)}`]]);
      hashes();
      return;
    case "too-large":
      lines.push([["yellow", `too large to diff: ${diff.beforeLines.toLocaleString("en-US")} → ${plural(diff.afterLines, "line")}, ${sizesOf(file)}`]]);
      hashes();
      return;
    case "text":
      for (const line of diff.patch.replace(/\n$/, "").split("\n")) {
        const style = line.startsWith("@@") ? "cyan" : line.startsWith("+") ? "green" : line.startsWith("-") ? "red" : line.startsWith("\\") ? "dim" : null;
        lines.push([[style, visible(line)]]);
      }
  }
}

function renderFiles(card: DiffCard & { kind: "files" }, lines: Line[]): void {
  if (card.files.length === 0 && card.notApplied.length === 0) lines.push([[null, "(no changes)"]]);
  const names = card.files.map(nameOf);
  const column = Math.min(40, Math.max(0, ...names.map((n) => n.length)));
  for (const [i, file] of card.files.entries()) {
    const flagged = Boolean(file.runsCode?.length);
    lines.push([
      [flagged ? "yellow" : null, `${flagged ? "!" : " "} ${file.status.padEnd(8)}`],
      [null, `  ${names[i]!.padEnd(column)}  ${sizesOf(file)}`],
    ]);
  }
  const flagged = card.files.filter((f) => f.runsCode?.length);
  if (flagged.length > 0) {
    lines.push([], [[["bold", "yellow"], "Runs code on this machine (opened, entered, built or installed): check these first"]]);
    for (const file of flagged) for (const reason of file.runsCode!) lines.push([["yellow", `! ${oneLine(file.path)}: ${oneLine(reason)}`]]);
  }
  if (card.notApplied.length > 0 || card.notAppliedHidden) {
    lines.push([], [["bold", "Not applied (left in the sandbox):"]]);
    for (const s of card.notApplied) lines.push([[null, `- ${oneLine(s.path)} (${oneLine(s.kind)}): ${oneLine(s.why)}`]]);
    if (card.notAppliedHidden) lines.push([[null, `- and ${plural(card.notAppliedHidden, "more change")}, listed in the full diff`]]);
  }
  for (const file of card.files) renderDiff(file, lines);
  if (card.summarised) {
    lines.push([], [["yellow", `Summarised: ${plural(card.summarised.omitted, "diff")} not shown (${oneLine(card.summarised.why)})`]]);
    if (card.fullDiffFile !== undefined) lines.push([[null, `full diff: ${oneLine(card.fullDiffFile)}`]]);
  }
}

// ── the full diff ─────────────────────────────────────────────────────────────────────────

/** A file's section of the full diff: its card entry with the diff to show; with `whole`, the change to show as its whole content replaced. */
export interface FullDiffFile {
  readonly file: CardFile;
  readonly whole?: Pick<FileChange, "before" | "after">;
}

const plain = (lines: Line[]) => lines.map((line) => line.map(([, text]) => text).join("")).join("\n") + "\n";

function countLines(text: string): number {
  let n = 0;
  for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) n++;
  return n;
}

/** The whole of `before` replaced by the whole of `after`, as one hunk: linear, for a file the card had no time to diff. */
function replacementPatch(before: string, after: string): string {
  const side = (text: string, sign: string) => {
    if (text === "") return { lines: [] as string[], count: 0 };
    const parts = text.split("\n");
    const complete = parts.at(-1) === "";
    if (complete) parts.pop();
    const lines = parts.map((line) => sign + line);
    if (!complete) lines.push("\\ No newline at end of file");
    return { lines, count: parts.length };
  };
  const old = side(before, "-");
  const now = side(after, "+");
  const range = (count: number) => (count === 0 ? "0,0" : `1,${count}`);
  return `@@ -${range(old.count)} +${range(now.count)} @@\n${[...old.lines, ...now.lines].join("\n")}\n`;
}

// Patch text is escaped and counted in pieces of about this size, with a yield between.
const PIECE = 1 << 20;

/** `head`, then `patch` escaped piece by piece (yielding between); null as soon as it would not fit in `room`. */
async function escapedWithin(head: string, patch: string, room: { chars: number; lines: number }, step: () => Promise<void>) {
  const pieces = [head];
  let chars = head.length;
  let lines = countLines(head);
  for (let at = 0; at < patch.length && chars <= room.chars && lines <= room.lines;) {
    const end = at + PIECE >= patch.length ? patch.length : patch.indexOf("\n", at + PIECE) + 1 || patch.length;
    const piece = visible(patch.slice(at, end));
    pieces.push(piece);
    chars += piece.length;
    lines += countLines(piece);
    at = end;
    await step();
  }
  return chars <= room.chars && lines <= room.lines ? { pieces, chars, lines } : null;
}

/**
 * The full diff of a summarised card, as plain text (no colour, no folding, the card's escapes):
 * the card's summary, flags and every change not applied, then each file's diff. Built file by
 * file and piece by piece, yielding (`step`, which throws once the build is aborted) between; and
 * bounded: a file whose diff would take the diffs past `maxChars` or `maxLines` is shown by its
 * sizes and SHA-256 instead, and a note at the end says how many were left out.
 */
export async function renderFullDiff(
  card: { title: string; files: readonly FullDiffFile[]; notApplied: SkippedChange[] },
  bounds: { maxChars: number; maxLines: number },
  step: () => Promise<void>,
): Promise<string> {
  const summary = card.files.map(({ file }) => ({ ...file, diff: { kind: "omitted" } as const }));
  const out = [renderCard({ kind: "files", title: card.title, files: summary, notApplied: card.notApplied }, { color: false })];
  const used = { chars: 0, lines: 0 };
  let leftOut = 0;
  for (const { file, whole } of card.files) {
    await step();
    const section: Line[] = [];
    if (!whole && file.diff.kind !== "text") {
      renderDiff(file, section);
      if (section.length > 0) out.push(plain(section));
      continue;
    }
    diffHeader(file, section);
    if (whole) section.push([[null, "not diffed (the card's time ran out): shown as the whole file replaced"]]);
    const room = { chars: bounds.maxChars - used.chars, lines: bounds.maxLines - used.lines };
    const wholeSize = (whole?.before?.length ?? 0) + (whole?.after?.length ?? 0);
    const patch = !whole
      ? file.diff.kind === "text"
        ? file.diff.patch
        : ""
      : wholeSize <= room.chars
        ? replacementPatch(whole.before?.toString("utf8") ?? "", whole.after?.toString("utf8") ?? "")
        : null;
    const shown = patch === null ? null : await escapedWithin(plain(section), patch, room, step);
    if (shown) {
      out.push(...shown.pieces);
      used.chars += shown.chars;
      used.lines += shown.lines;
      continue;
    }
    leftOut++;
    section.length = 0;
    diffHeader(file, section);
    section.push([["yellow", `left out (the full diff is full): ${sizesOf(file)}`]]);
    hashLines(file, section);
    out.push(plain(section));
  }
  const cap = `${plural(Math.round(bounds.maxChars / 1024), "KiB", "KiB")} and ${plural(bounds.maxLines, "line")}`;
  if (leftOut > 0) out.push(`\nLeft out: ${plural(leftOut, "diff")}, shown above by sizes and SHA-256 only: the full diff's diffs stop at ${cap}.\n`);
  return out.join("");
}

/**
 * The card as text: untrusted text escaped (oneLine inside a line, visible for diff and JSON
 * lines), colour only when asked. With `width` (a terminal's columns) every line is folded to fit
 * it; without (a pipe, a file, a terminal of 0 columns), lines are left whole.
 */
export function renderCard(card: DiffCard, options: { color: boolean; width?: number }): string {
  const paint = (style: Style | null, text: string) => (options.color && style ? styleText(style, text, { validateStream: false }) : text);
  // One column spare: some terminals wrap as soon as the last column is written.
  // A terminal that reports 0 columns (a pty nobody sized) has no width we could fold to.
  const known = options.width !== undefined && options.width > 0;
  const width = Math.max(20, known ? options.width! : 80) - 1;
  const folded = (line: Line) => (known ? fold(line, width) : [line]);
  const title = `── ${oneLine(card.title)} `;
  // The rule counts 2 columns a character too (box drawing is wide on some CJK terminals).
  const lines: Line[] = [[["bold", title + "─".repeat(Math.max(2, Math.floor((width - columns(title)) / 2)))]]];
  const field = (name: string, ...value: Piece[]) => lines.push([["bold", name.padEnd(10)], ...value]);

  switch (card.kind) {
    case "files":
      renderFiles(card, lines);
      break;
    case "exec":
      field("command", [null, oneLine(card.argv.map(shellWord).join(" "))]);
      field("cwd", [null, oneLine(card.cwd)]);
      field(
        "env",
        ...(card.envNames.length
          ? ([
              [null, `${oneLine(card.envNames.join(", "))} `],
              ["dim", "(values not shown)"],
            ] as const)
          : ([[null, "(none)"]] as const)),
      );
      field("network", card.network ? ["red", "yes: the command may reach the network"] : [null, "no"]);
      break;
    case "mcp":
      field("server", [null, oneLine(card.server)]);
      field("tool", [null, oneLine(card.tool)]);
      if (card.annotations) {
        field(
          "hints",
          [
            null,
            `${Object.entries(card.annotations)
              .map(([k, v]) => `${oneLine(k)}: ${v}`)
              .join(", ")} `,
          ],
          ["dim", "(as the server says)"],
        );
      }
      lines.push([["bold", "arguments"]]);
      for (const line of card.argumentsJson.split("\n")) lines.push([[null, visible(line)]]);
      break;
  }
  return `${lines.flatMap((line) => folded(line).map((row) => row.map(([style, text]) => paint(style, text)).join(""))).join("\n")}\n`;
}
