// The model's words as `ironclaw run` shows them while it works. They are the model's, not
// IronClaw's, and a model can be steered by anything it read (a file, a web page, a tool's
// result): every control character is shown as an escape (src/terminal-text.ts), and every line
// starts with a gutter, so no line of the model's can pass for IronClaw's own ("ironclaw: …",
// a diff card, an approval question). IronClaw's lines never start with the gutter.
import { visible } from "../terminal-text.ts";

export const MODEL_GUTTER = "│ ";

export interface ModelTextWriter {
  /** One streamed piece of the model's text. */
  text(delta: string): void;
  /** The model's turn is over: end its line if it left one open. */
  endTurn(): void;
}

export function modelTextWriter(write: (text: string) => void): ModelTextWriter {
  let atLineStart = true;
  return {
    text(delta) {
      let out = "";
      for (const line of visible(delta).split(/(?<=\n)/)) {
        if (line === "") continue;
        if (atLineStart) out += MODEL_GUTTER;
        out += line;
        atLineStart = line.endsWith("\n");
      }
      if (out) write(out);
    },
    endTurn() {
      if (!atLineStart) write("\n");
      atLineStart = true;
    },
  };
}
