// `npm run diagrams`: writes diagrams/<machine>.mmd from machines/ and renders each to
// diagrams/<machine>.svg in headless Chromium (scripts/render-mermaid.ts). Never edit those by hand;
// tests/unit/diagrams.test.ts fails when they are stale. `--out DIR` writes elsewhere, so the
// render test can compare a fresh run with what is committed.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DIAGRAMS } from "../src/diagram-list.ts";
import { toMermaid } from "../src/diagram.ts";
import { chromiumMissing, openMermaidRenderer } from "./render-mermaid.ts";

const { values } = parseArgs({ options: { out: { type: "string" } } });
const dir = values.out ? resolve(values.out) : join(import.meta.dirname, "..", "diagrams");

const missing = chromiumMissing();
if (missing) {
  console.error(`npm run diagrams: ${missing}`);
  process.exit(1);
}

mkdirSync(dir, { recursive: true });
const renderer = await openMermaidRenderer();
try {
  for (const [name, machine] of Object.entries(DIAGRAMS)) {
    const source = toMermaid(machine);
    writeFileSync(join(dir, `${name}.mmd`), source);
    writeFileSync(join(dir, `${name}.svg`), await renderer.render(name, source));
    console.log(`${relative(process.cwd(), join(dir, name))}.{mmd,svg}`);
  }
} finally {
  await renderer.close();
}
