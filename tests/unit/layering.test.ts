// The layers hold because lint says so: core/ imports nothing of ours and does no I/O, machines/
// import only core/, actors/ never reach up into src/, and only a handle's own module may cast
// it (eslint.config.js). Each rule is shown to fire, and to let the allowed imports through, by
// linting a would-be file at that place in the tree with the project's own config.
import { join } from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const eslint = new ESLint({ cwd: root });

async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport const x = y;\n`, { filePath: join(root, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

describe("the layering rules", () => {
  it("refuse an import from actors/ into src/", async () => {
    expect(await restricted("actors/sandbox/would-be.ts", 'import { y } from "../../src/runtime.ts";')).toEqual([expect.stringMatching(/actors\/ never import src\//)]);
    expect(await restricted("actors/would-be.ts", 'import { y } from "../src/runtime.ts";')).toHaveLength(1);
  });

  it("let actors/ import core/, machines/, the guest protocol and each other", async () => {
    for (const spec of ["../../core/errors.ts", "../../machines/vm.machine.ts", "../../guest-agent/guest-protocol.ts", "../guest/guest-channel.ts", "./cgroup.ts"]) {
      expect(await restricted("actors/sandbox/would-be.ts", `import { y } from "${spec}";`)).toEqual([]);
    }
  });

  it("refuse an import from machines/ into anything but core/ and other machines", async () => {
    for (const spec of ["../actors/sandbox/vm.actors.ts", "../src/runtime.ts", "../guest-agent/guest-protocol.ts"]) {
      expect(await restricted("machines/would-be.machine.ts", `import { y } from "${spec}";`)).toEqual([expect.stringMatching(/import only core\//)]);
    }
    expect(await restricted("machines/would-be.machine.ts", 'import { readFileSync as y } from "node:fs";')).toEqual([expect.stringMatching(/no I\/O/)]);
    expect(await restricted("machines/would-be.machine.ts", 'import { y } from "../core/errors.ts";')).toEqual([]);
    expect(await restricted("machines/would-be.machine.ts", 'import { y } from "./vm.machine.ts";')).toEqual([]);
  });

  it("refuse an import from core/ into any other layer, and I/O in core/", async () => {
    for (const spec of ["../machines/vm.machine.ts", "../actors/audit/audit-log.ts", "../src/config/settings.ts"]) {
      expect(await restricted("core/would-be.ts", `import { y } from "${spec}";`)).toEqual([expect.stringMatching(/bottom layer/)]);
    }
    expect(await restricted("core/would-be.ts", 'import { readFileSync as y } from "node:fs";')).toEqual([expect.stringMatching(/core\/ is pure/)]);
    expect(await restricted("core/would-be.ts", 'import { y } from "./errors.ts";')).toEqual([]);
  });

  it("refuse `as unknown as` outside the modules that own a handle", async () => {
    const cast = "const v = 1;\nexport const w = v as unknown as string;\n";
    const lint = async (file: string) => {
      const [result] = await eslint.lintText(cast, { filePath: join(root, file) });
      return (result?.messages ?? []).filter((m) => m.ruleId === "no-restricted-syntax").length;
    };
    for (const file of ["src/would-be.ts", "actors/sandbox/would-be.ts", "machines/would-be.machine.ts", "core/would-be.ts"]) expect(await lint(file)).toBe(1);
    expect(await lint("actors/sandbox/sandbox-handle.ts")).toBe(0);
    expect(await lint("actors/mcp/session-handle.ts")).toBe(0);
  });
});
