// The model's words at the terminal (src/cli/model-text.ts): escapes visible, and every line —
// however the stream splits it — behind the gutter, so none passes for IronClaw's own.
import { describe, expect, it } from "vitest";
import { MODEL_GUTTER, modelTextWriter } from "../../src/cli/model-text.ts";

function shown(deltas: string[], endTurns: number[] = []): string {
  let out = "";
  const writer = modelTextWriter((t) => (out += t));
  deltas.forEach((d, i) => {
    writer.text(d);
    if (endTurns.includes(i)) writer.endTurn();
  });
  return out;
}

describe("model text", () => {
  it("puts every line behind the gutter, however the deltas split it", () => {
    const whole = shown(["Fixing it.\nironclaw: approve? [y/N]\nok"]);
    const pieces = shown(["Fix", "ing it.", "\n", "ironclaw: appr", "ove? [y/N]\nok"]);
    expect(pieces).toBe(whole);
    expect(whole).toBe(`${MODEL_GUTTER}Fixing it.\n${MODEL_GUTTER}ironclaw: approve? [y/N]\n${MODEL_GUTTER}ok`);
    expect(whole.split("\n").every((line) => line.startsWith(MODEL_GUTTER))).toBe(true);
  });

  it("shows escape sequences and carriage returns as text", () => {
    expect(shown(["\x1b[2J\rtext"])).toBe(`${MODEL_GUTTER}\\x1b[2J\\rtext`);
  });

  it("ends an open line at the end of a turn, and the next turn starts behind the gutter again", () => {
    expect(shown(["first", "second"], [0])).toBe(`${MODEL_GUTTER}first\n${MODEL_GUTTER}second`);
    expect(shown(["line\n", "next"], [0])).toBe(`${MODEL_GUTTER}line\n${MODEL_GUTTER}next`);
  });

  it("breaks a line wider than the terminal itself, the rest behind the gutter: padding cannot wrap a forged row to the left edge", () => {
    let out = "";
    const writer = modelTextWriter(
      (t) => (out += t),
      () => 40,
    );
    writer.text(`${"x".repeat(60)}ironclaw: approve apply? [y/N]`);
    const rows = out.split("\n");
    expect(rows.length).toBeGreaterThan(1);
    for (const row of rows) {
      expect(row.startsWith(MODEL_GUTTER)).toBe(true);
      expect(row.length).toBeLessThanOrEqual(40);
    }
    expect(rows.join("").replaceAll(MODEL_GUTTER, "")).toBe(`${"x".repeat(60)}ironclaw: approve apply? [y/N]`);
  });
});
