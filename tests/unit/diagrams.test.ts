// diagrams/ is generated from machines/ by `npm run diagrams`; a diagram that no longer matches its
// machine fails here, without a browser: the .mmd is compared with toMermaid(machine), and each SVG
// carries the sha256 of the .mmd it was drawn from. tests/integration/diagrams-render.test.ts
// checks that drawing again gives the same SVG bytes.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { DIAGRAMS } from "../../src/diagram-list.ts";
import { toMermaid } from "../../src/diagram.ts";
import { embeddedSourceHash, sourceHash } from "../../scripts/render-mermaid.ts";

const repo = join(import.meta.dirname, "..", "..");
const diagrams = join(repo, "diagrams");
const read = (file: string) => readFileSync(join(diagrams, file), "utf8");

describe("diagrams", () => {
  it("draws every machine in machines/, each from its own file", async () => {
    const files = readdirSync(join(repo, "machines")).filter((f) => f.endsWith(".machine.ts"));
    expect(Object.keys(DIAGRAMS).sort()).toEqual(files.map((f) => f.replace(/\.ts$/, "")).sort());
    for (const file of files) {
      const exports: Record<string, unknown> = await import(pathToFileURL(join(repo, "machines", file)).href);
      expect(Object.values(exports), `DIAGRAMS["${file.replace(/\.ts$/, "")}"] is not exported by machines/${file}`).toContain(DIAGRAMS[file.replace(/\.ts$/, "")]);
    }
  });

  it("has exactly one .mmd and one .svg per machine in diagrams/ (run `npm run diagrams`)", () => {
    const expected = Object.keys(DIAGRAMS).flatMap((name) => [`${name}.mmd`, `${name}.svg`]);
    expect(readdirSync(diagrams).sort()).toEqual(expected.sort());
  });

  it.each(Object.entries(DIAGRAMS))("diagrams/%s.mmd is up to date (run `npm run diagrams`)", (name, machine) => {
    expect(read(`${name}.mmd`)).toBe(toMermaid(machine));
  });

  it.each(Object.keys(DIAGRAMS))("diagrams/%s.svg was drawn from the current .mmd (run `npm run diagrams`)", (name) => {
    const svg = read(`${name}.svg`);
    expect(embeddedSourceHash(svg)).toBe(sourceHash(read(`${name}.mmd`)));
    // A standalone file: plain SVG text labels, nothing fetched when it is opened.
    expect(svg).toMatch(/\n<svg id="diagram-[^"]+" [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).not.toContain("<foreignObject");
    expect(svg).not.toMatch(/(href|src)="(https?:)?\/\//);
    expect(svg).not.toMatch(/@import|url\(["']?https?:/);
  });

  it("docs/diagrams.md shows every diagram and links its source", () => {
    const doc = readFileSync(join(repo, "docs", "diagrams.md"), "utf8");
    for (const name of Object.keys(DIAGRAMS)) {
      expect(doc).toContain(`![${name}](../diagrams/${name}.svg)`);
      expect(doc).toContain(`(../diagrams/${name}.mmd)`);
    }
  });

  it("draws every state and the only way to a final state of the vm", () => {
    const vm = toMermaid(DIAGRAMS["vm.machine"]!);
    for (const state of ["provisioning", "booting", "running_ready", "running_busy", "running_stopping", "teardown", "destroyed", "failed"]) {
      expect(vm).toContain(`vm_${state}`);
    }
    const intoFinal = vm.split("\n").filter((l) => / --> vm_(destroyed|failed):/.test(l));
    expect(intoFinal.every((l) => l.trim().startsWith("vm_teardown -->"))).toBe(true);
  });

  // Mermaid places a state in the last composite block that names it: a transition written inside
  // a block would draw its outside target (vm_teardown) inside that block.
  it("writes transitions only at the top level, so each state is drawn in its own parent", () => {
    for (const machine of Object.values(DIAGRAMS)) {
      const nested = toMermaid(machine)
        .split("\n")
        .filter((l) => l.startsWith("    ") && l.includes("-->"));
      expect(nested.every((l) => l.trim().startsWith("[*] -->"))).toBe(true);
    }
    const vm = toMermaid(DIAGRAMS["vm.machine"]!);
    const running = vm.slice(vm.indexOf("state vm_running {"), vm.indexOf("\n  }"));
    expect(running).not.toContain("vm_teardown");
    expect(vm).toMatch(/^ {2}vm_teardown$/m);
  });
});
