// The model's words as `ironclaw run` shows them while it works. They are the model's, not
// IronClaw's, and a model can be steered by anything it read (a file, a web page, a tool's
// result): every control character is shown as an escape (core/terminal-text.ts), and every line
// starts with a gutter, so no line of the model's can pass for IronClaw's own ("ironclaw: …",
// a diff card, an approval question). IronClaw's lines never start with the gutter.
import { visible } from "../../core/terminal-text.ts";

export const MODEL_GUTTER = "│ ";

export interface ModelTextWriter {
  /** One streamed piece of the model's text. */
  text(delta: string): void;
  /** The model's turn is over: end its line if it left one open. */
  endTurn(): void;
}

/**
 * `columns`: the terminal's width (undefined: not a terminal, nothing folded). A line wider than
 * the terminal would wrap into a row without the gutter, so the writer breaks it first and the
 * continuation row starts with the gutter too. Widths are counted pessimistically, as foldLine does.
 */
export function modelTextWriter(write: (text: string) => void, columns: () => number | undefined = () => undefined): ModelTextWriter {
  let atLineStart = true;
  let used = 0;
  return {
    text(delta) {
      const width = columns();
      let out = "";
      for (const ch of visible(delta)) {
        if (ch === "\n") {
          out += atLineStart ? `${MODEL_GUTTER}\n` : "\n";
          atLineStart = true;
          continue;
        }
        const w = ch === "\t" ? 8 : ch < "\x80" ? 1 : 2;
        if (atLineStart || (width !== undefined && width > MODEL_GUTTER.length + 8 && used + w > width)) {
          out += `${atLineStart ? "" : "\n"}${MODEL_GUTTER}`;
          used = MODEL_GUTTER.length;
          atLineStart = false;
        }
        out += ch;
        used += w;
      }
      if (out) write(out);
    },
    endTurn() {
      if (!atLineStart) write("\n");
      atLineStart = true;
    },
  };
}
