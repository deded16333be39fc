// The one output discipline (the inspector's page shows the same escapes, from the same regexes): text that did not come from the user or from IronClaw itself — a
// model's words, an MCP server's names, descriptions, results and questions, file names, bytes a
// sandbox sent back — reaches the terminal only through these functions. A terminal obeys what it
// is sent: an escape sequence can clear the screen, draw a fake diff card, shrink the scroll region
// so the real card is never seen, write the clipboard (OSC 52) or retitle the window; `\r` and
// bidirectional overrides make text read differently from what it is (Trojan Source). So every
// control, bidi and invisible character is shown as an escape, and the sequence it began is inert
// text. (`ironclaw exec` streams the command's own output raw, as `docker run` does: there the
// user asked to see exactly what the program printed; docs/security.md.)

// C0 controls but tab and newline, DEL and C1 (U+0080–U+009F: 8-bit CSI, OSC, DCS …), soft hyphen,
// Arabic letter mark, Mongolian vowel separator, zero-width and bidi marks and overrides, line and
// paragraph separators, word joiners and invisible operators, the BOM, interlinear annotation
// marks, and the Unicode tag characters (invisible, and used to smuggle text to models).
// eslint-disable-next-line no-control-regex
export const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;
// eslint-disable-next-line no-control-regex
export const INVISIBLE_OR_BREAK = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;

/** One invisible or control character as the escape that names it (`\x1b`, `\r`, `\u202e`). */
export function escapeCharacter(c: string): string {
  const code = c.codePointAt(0)!;
  if (c === "\r") return "\\r";
  if (c === "\n") return "\\n";
  if (c === "\t") return "\\t";
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, "0")}`;
  return code < 0x10000 ? `\\u${code.toString(16).padStart(4, "0")}` : `\\u{${code.toString(16)}}`;
}

/**
 * `text` with every control, bidi and invisible character as a visible escape (`\x1b`, `\r`,
 * `\u202e`); newlines and tabs stay. For untrusted text shown as a block (model prose, a tool's
 * result, a diff line).
 */
export function visible(text: string): string {
  return text.replace(INVISIBLE, escapeCharacter);
}

/**
 * `text` on one line: as `visible`, and newlines and tabs escaped too. For untrusted text inside
 * a line IronClaw writes (a tool's name in a question, a server's message, a file name), so it
 * can neither end IronClaw's line nor begin one that looks like IronClaw's.
 */
export function oneLine(text: string): string {
  return text.replace(INVISIBLE_OR_BREAK, escapeCharacter);
}

/** Whether `text` holds a character `oneLine` would escape (a file name that must not be written). */
export function hasControlCharacters(text: string): boolean {
  return ANY_INVISIBLE_OR_BREAK.test(text);
}
const ANY_INVISIBLE_OR_BREAK = new RegExp(INVISIBLE_OR_BREAK.source, "u");

/**
 * `JSON.stringify(value)`, with every character `visible` would escape written as a JSON `\uXXXX`
 * escape. JSON.stringify escapes C0 controls but leaves C1 (U+009B is an 8-bit CSI), bidi
 * overrides and tag characters raw; written this way `--json` output is the same data, safe on a
 * terminal too.
 */
export function safeJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(INVISIBLE, (c) => [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`).join(""));
}

// How many columns a character may take: pessimistic (any non-ASCII 2, a tab 8), so IronClaw
// breaks a row before the terminal would.
const columnsOf = (ch: string) => (ch === "\t" ? 8 : ch < "\x80" ? 1 : 2);

/**
 * `line` (one line, already escaped) cut into rows of at most `columns`, each row after the first
 * starting with `continuation`. A terminal wraps a line wider than itself, and the wrapped rest
 * starts a row of its own at the left edge: padded to the width, a quoted text could so begin a
 * row that reads as IronClaw's ("ironclaw: approve …"). Folded here first, it cannot.
 */
export function foldLine(line: string, columns: number, continuation: string): string {
  if (columns <= continuation.length + 8) return line;
  const rows: string[] = [];
  let row = "";
  let used = 0;
  for (const ch of line) {
    const w = columnsOf(ch);
    if (used + w > columns) {
      rows.push(row);
      row = continuation;
      used = continuation.length;
    }
    row += ch;
    used += w;
  }
  rows.push(row);
  return rows.join("\n");
}

/** The width to fold to on this stream: its columns when it is a terminal that knows them. */
export function terminalColumns(stream: { readonly isTTY?: boolean; readonly columns?: number }): number | undefined {
  return stream.isTTY && stream.columns !== undefined && stream.columns > 0 ? stream.columns : undefined;
}

/**
 * What IronClaw writes before drawing a diff card or asking a question on a terminal: all
 * character attributes off (SGR 0), then a soft reset (DECSTR: full-screen scroll region, origin
 * mode off, cursor shown, insert mode off, default character sets) — so whatever reached the
 * terminal before, the card is drawn, and the question asked, on a known state. Terminals
 * that do not know DECSTR ignore it. Only for a terminal: never in a pipe or a file.
 */
export const TERMINAL_RESET = "\x1b[0m\x1b[!p";
