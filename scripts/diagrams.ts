// `npm run diagrams`: writes diagrams/<machine>.mmd from machines/. Never edit those by hand.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DIAGRAMS } from "../src/diagram-list.ts";
import { toMermaid } from "../src/diagram.ts";

for (const [name, machine] of Object.entries(DIAGRAMS)) {
  writeFileSync(join(import.meta.dirname, "..", "diagrams", `${name}.mmd`), toMermaid(machine));
  console.log(`diagrams/${name}.mmd`);
}
