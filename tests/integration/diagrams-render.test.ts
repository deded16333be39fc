// `npm run diagrams` regenerates identical files: run it into a temporary directory with real
// headless Chromium and compare every byte with what is committed in diagrams/. Needs Debian's
// chromium (scripts/setup.sh installs it); without it the test fails in CI and is skipped elsewhere.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { chromiumMissing } from "../../scripts/render-mermaid.ts";

const missing = chromiumMissing();
if (missing && process.env.CI) throw new Error(missing);
if (missing) console.warn(`skipping the diagram render test: ${missing}`);

const repo = join(import.meta.dirname, "..", "..");
const committed = join(repo, "diagrams");
const out = mkdtempSync(join(tmpdir(), "ironclaw-diagrams-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.skipIf(missing !== null)("npm run diagrams", () => {
  it("renders every diagram again to the committed bytes", async () => {
    await promisify(execFile)(process.execPath, [join(repo, "scripts", "diagrams.ts"), "--out", out], { cwd: repo, timeout: 90_000 });
    const files = readdirSync(out).sort();
    expect(files).toEqual(readdirSync(committed).sort());
    for (const file of files) {
      // Compared as text first so a failure shows a diff, then as bytes.
      const fresh = readFileSync(join(out, file));
      const saved = readFileSync(join(committed, file));
      expect(fresh.toString("utf8"), `diagrams/${file} differs from a fresh render (run \`npm run diagrams\`)`).toBe(saved.toString("utf8"));
      expect(fresh.equals(saved)).toBe(true);
    }
  }, 120_000);
});
