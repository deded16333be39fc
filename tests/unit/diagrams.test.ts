// diagrams/ is generated from machines/; a diagram that no longer matches its machine fails here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DIAGRAMS } from "../../src/diagram-list.ts";
import { toMermaid } from "../../src/diagram.ts";

describe("diagrams", () => {
  it.each(Object.entries(DIAGRAMS))("diagrams/%s.mmd is up to date (run `npm run diagrams`)", (name, machine) => {
    const committed = readFileSync(join(import.meta.dirname, "..", "..", "diagrams", `${name}.mmd`), "utf8");
    expect(committed).toBe(toMermaid(machine));
  });

  it("draws every state and the only way to a final state of the vm", () => {
    const vm = toMermaid(DIAGRAMS["vm.machine"]!);
    for (const state of ["provisioning", "booting", "running_ready", "running_busy", "running_stopping", "teardown", "destroyed", "failed"]) {
      expect(vm).toContain(`vm_${state}`);
    }
    const intoFinal = vm.split("\n").filter((l) => / --> vm_(destroyed|failed):/.test(l));
    expect(intoFinal.every((l) => l.trim().startsWith("vm_teardown -->"))).toBe(true);
  });
});
