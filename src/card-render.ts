// A diff card (src/diff-card.ts) drawn for a terminal: the summary of every file, the files that
// run code on the host, what will not be applied, then the diffs, every line folded to the
// terminal's width. Presentation only — the card's data and its action hash are decided in
// diff-card.ts; the web inspector draws the same data with its own code (src/inspector/ui/card.ts).
import { styleText } from "node:util";
import type { CardFile, DiffCard } from "./diff-card.ts";
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
function renderDiff(file: CardFile, lines: Line[]): void {
  const { diff } = file;
  if (diff.kind === "same" || diff.kind === "omitted") return;
  const base = file.baseHash ? `  base sha256 ${file.baseHash.slice(0, 12)}` : "";
  lines.push([], [["bold", `── ${file.status} ${nameOf(file)}`], ["dim", base]]);
  const hashes = () => {
    if (file.before) lines.push([[null, `sha256 before ${file.before.sha256}`]]);
    if (file.after) lines.push([[null, `sha256 after  ${file.after.sha256}`]]);
  };
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
      if (diff.whole) lines.push([["yellow", "too large to diff line by line: shown as the whole file replaced"]]);
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
      field("env", ...(card.envNames.length ? [[null, `${oneLine(card.envNames.join(", "))} `], ["dim", "(values not shown)"]] as const : [[null, "(none)"]] as const));
      field("network", card.network ? ["red", "yes: the command may reach the network"] : [null, "no"]);
      break;
    case "mcp":
      field("server", [null, oneLine(card.server)]);
      field("tool", [null, oneLine(card.tool)]);
      if (card.annotations) {
        field("hints", [null, `${Object.entries(card.annotations).map(([k, v]) => `${oneLine(k)}: ${v}`).join(", ")} `], ["dim", "(as the server says)"]);
      }
      lines.push([["bold", "arguments"]]);
      for (const line of card.argumentsJson.split("\n")) lines.push([[null, visible(line)]]);
      break;
  }
  return `${lines.flatMap((line) => folded(line).map((row) => row.map(([style, text]) => paint(style, text)).join(""))).join("\n")}\n`;
}
