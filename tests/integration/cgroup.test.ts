// Real cgroups (v1 here, v2 on most users' machines): teardown must remove a sandbox's cgroup
// even when the sandbox made cgroups of its own inside it (runsc does) with processes in them.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createCgroup, destroyCgroup, detectCgroups } from "../../actors/cgroup.ts";
import { sandboxId } from "../support/backends.ts";

const support = await detectCgroups();
if (!support.usable) console.warn(`skipping cgroup tests: ${support.detail}`);

describe.skipIf(!support.usable)("cgroup teardown", () => {
  it("kills processes in nested cgroups and removes the tree deepest first", async () => {
    const set = await createCgroup(support.version!, sandboxId("cg"), { memoryBytes: 64 << 20, pidsMax: 32 });
    const exits: Promise<unknown>[] = [];
    for (const dir of set.dirs) {
      const nested = join(dir, "inner", "deeper");
      mkdirSync(nested, { recursive: true });
      const child = spawn("sleep", ["600"], { stdio: "ignore" });
      exits.push(new Promise((r) => child.once("exit", (_code, signal) => r(signal))));
      writeFileSync(join(nested, "cgroup.procs"), String(child.pid));
    }
    await destroyCgroup(set);
    for (const dir of set.dirs) expect(existsSync(dir)).toBe(false);
    // Killed by teardown, not by anything else: each sleeper was meant to sleep ten minutes.
    expect(await Promise.all(exits)).toEqual(exits.map(() => "SIGKILL"));
  });

  it("is idempotent", async () => {
    const set = await createCgroup(support.version!, sandboxId("cg"), { memoryBytes: 64 << 20, pidsMax: 32 });
    await destroyCgroup(set);
    await expect(destroyCgroup(set)).resolves.toBeUndefined();
  });
});
