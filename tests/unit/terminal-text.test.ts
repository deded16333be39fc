// The one output discipline (core/terminal-text.ts): what a hostile model, server or sandbox
// writes can be read on a terminal but never drives it.
import { describe, expect, it } from "vitest";
import { foldLine, hasControlCharacters, oneLine, safeJson, visible } from "../../core/terminal-text.ts";

// Anything a terminal would act on, or that reads differently from what it is.
// eslint-disable-next-line no-control-regex
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u{e0000}-\u{e007f}]/u;

const ATTACKS = [
  "\x1b[2J\x1b[H", // clear the screen, home the cursor
  "\x1b]52;c;ZXZpbA==\x07", // OSC 52: write the clipboard
  "\x1bP+q544e\x1b\\", // DCS
  "\x1b[1;3r", // scroll region
  "\u009b2J", // 8-bit CSI
  "\u009d0;title\u009c", // 8-bit OSC, ST
  "fine\rforged", // carriage return overwrites the line
  "\u202eexe.txt", // right-to-left override
  "tag\u{e0041}\u{e0042}", // Unicode tags (invisible)
  "zero\u200bwidth",
  "bell\x07del\x7f",
];

describe("terminal text", () => {
  it.each(ATTACKS)("visible(%j) holds nothing a terminal acts on, and says what was there", (attack) => {
    const shown = visible(attack);
    expect(shown).not.toMatch(ACTIVE);
    expect(shown).toMatch(/\\(x[0-9a-f]{2}|u[0-9a-f]{4}|u\{[0-9a-f]+\}|r)/);
  });

  it("names each escaped character by its code, so the user sees exactly what was sent", () => {
    expect(visible("\x1b[2J")).toBe("\\x1b[2J");
    expect(visible("a\rb")).toBe("a\\rb");
    expect(visible("\u009b")).toBe("\\x9b");
    expect(visible("\u202e")).toBe("\\u202e");
    expect(visible("\u{e0041}")).toBe("\\u{e0041}");
  });

  it("visible keeps newlines and tabs (blocks of text); oneLine escapes them (text inside a line)", () => {
    expect(visible("a\n\tb")).toBe("a\n\tb");
    expect(oneLine("a\n\tb\r")).toBe("a\\n\\tb\\r");
    expect(oneLine("x\nironclaw: paste your token")).not.toContain("\n");
  });

  it("leaves ordinary text alone, accents, CJK and emoji included", () => {
    const text = "Zürich — 東京 🚀 'quoted' \"double\" $HOME ~";
    expect(visible(text)).toBe(text);
    expect(oneLine(text)).toBe(text);
    expect(hasControlCharacters(text)).toBe(false);
  });

  it.each(ATTACKS.concat(["a\nb", "tab\there"]))("hasControlCharacters(%j) is true", (text) => {
    expect(hasControlCharacters(text)).toBe(true);
  });

  it("safeJson is the same data (parses back equal) with nothing active in its text", () => {
    const value = { attacks: ATTACKS, nested: { "\u009bkey": ["\u202e", 1, null, true] }, multi: "a\nb" };
    const text = safeJson(value);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).not.toMatch(ACTIVE);
    expect(JSON.parse(safeJson(value, 2))).toEqual(value);
  });

  it("foldLine cuts a line to the width, every further row behind the continuation mark, counting wide characters as two", () => {
    const folded = foldLine(`ironclaw: ${"a".repeat(30)}ironclaw: approve? [y/N]`, 24, "  ↳ ");
    const rows = folded.split("\n");
    expect(rows[0]!.startsWith("ironclaw: ")).toBe(true);
    for (const row of rows.slice(1)) expect(row.startsWith("  ↳ ")).toBe(true);
    for (const row of rows) expect(row.length).toBeLessThanOrEqual(24);
    expect(foldLine("東京東京東京東", 12, "> ").split("\n")).toEqual(["東京東京東京", "> 東"]);
    expect(foldLine("short", 80, "> ")).toBe("short");
  });
});
