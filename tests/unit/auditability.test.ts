// The code that decides what an agent may do must stay small enough for one person to read
// and audit: the reasoning loop, the policy engine and the approval cliff together stay under
// 1,500 lines of code (not counting blank lines and comments).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const AUDITED = {
  loop: ["machines/agent-session.machine.ts", "actors/agent-session.actors.ts"],
  policy: ["src/policy.ts"],
  approval: ["machines/approval-request.machine.ts", "src/diff-card.ts", "actors/workspace.ts", "actors/audit-log.ts"],
};
const LIMIT = 1500;

/** Lines that are neither blank nor only a comment (// …, /* … *\/ blocks, JSDoc). */
function linesOfCode(source: string): number {
  let inBlock = false;
  let count = 0;
  for (const raw of source.split("\n")) {
    const line = raw.trim();
    if (inBlock) {
      if (line.includes("*/")) inBlock = false;
      continue;
    }
    if (line === "" || line.startsWith("//")) continue;
    if (line.startsWith("/*")) {
      if (!line.includes("*/")) inBlock = true;
      continue;
    }
    count++;
  }
  return count;
}

describe("auditability", () => {
  it("counts code, not comments or blank lines", () => {
    expect(linesOfCode("// a\n\n/**\n * b\n */\nconst x = 1; // c\n/* d */\nreturn x;\n")).toBe(2);
  });

  it(`keeps the loop, the policy and the approval code under ${LIMIT} lines of code`, () => {
    const counts = Object.fromEntries(
      Object.entries(AUDITED).map(([part, files]) => [part, files.reduce((sum, f) => sum + linesOfCode(readFileSync(join(root, f), "utf8")), 0)]),
    );
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`audited code: ${JSON.stringify(counts)}, total ${total} of ${LIMIT}`);
    expect(total).toBeLessThanOrEqual(LIMIT);
  });
});
