// Real cgroups (v1 here, v2 on most users' machines): teardown must remove a sandbox's cgroup
// even when the sandbox made cgroups of its own inside it (runsc does) with processes in them;
// a CPU quota is what was asked and the kernel holds a busy sandbox to it. The v2-only and
// no-cpu-controller hosts this machine is not are checked against fake cgroup roots.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupDirs, controllerFile, createCgroup, destroyCgroup, detectCgroups, oomKilled, pidsExhausted } from "../../actors/sandbox/cgroup.ts";
import type { SandboxRecord } from "../../actors/sandbox/sandbox-driver.ts";
import { limitsInForce } from "../../actors/sandbox/sandbox-view.ts";
import { backendsUnderTest, limits, sandboxId, withSandbox } from "../support/backends.ts";

const support = await detectCgroups();
if (!support.usable) console.warn(`skipping cgroup tests: ${support.detail}`);
else if (!support.cpu.usable) console.warn(`skipping CPU quota tests on the real hierarchy: ${support.cpu.detail}`);
const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8").trim();
const small = { memoryBytes: 64 << 20, pidsMax: 32 };

describe.skipIf(!support.usable)("cgroup teardown", () => {
  it("kills processes in nested cgroups and removes the tree deepest first", async () => {
    const set = await createCgroup(support.version!, sandboxId("cg"), { ...small, ...(support.cpu.usable && { cpus: 1 }) });
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
    const set = await createCgroup(support.version!, sandboxId("cg"), small);
    await destroyCgroup(set);
    await expect(destroyCgroup(set)).resolves.toBeUndefined();
  });

  it("removes every directory, the cpu one included, of a provision whose record listed none (a crash)", async () => {
    const id = sandboxId("cg");
    await createCgroup(support.version!, id, { ...small, cpus: 0.5 });
    await destroyCgroup({ version: support.version!, dirs: cgroupDirs(support.version!, id) });
    for (const dir of cgroupDirs(support.version!, id)) expect(existsSync(dir)).toBe(false);
  });
});

describe.skipIf(!support.cpu.usable)("CPU quota on this host's cgroups", () => {
  it("holds what was asked: CPUs' worth of time per 100 ms period", async () => {
    const set = await createCgroup(support.version!, sandboxId("cg"), { ...small, cpus: 0.5 });
    try {
      expect(set.cpus).toBe(0.5);
      if (set.version === 1) {
        const cpu = set.dirs.find((d) => existsSync(join(d, "cpu.cfs_quota_us")))!;
        expect([read(cpu, "cpu.cfs_quota_us"), read(cpu, "cpu.cfs_period_us")]).toEqual(["50000", "100000"]);
        // Memory first and pids last, where tests and records written before the cpu dir look.
        expect(set.dirs).toEqual(cgroupDirs(1, set.dirs[0]!.split("/").pop()!));
      } else {
        expect(read(set.dirs[0]!, "cpu.max")).toBe("50000 100000");
      }
    } finally {
      await destroyCgroup(set);
    }
  });

  it("makes no quota, and on v1 no cpu directory, when none is asked for", async () => {
    const set = await createCgroup(support.version!, sandboxId("cg"), small);
    try {
      expect(set.cpus).toBeUndefined();
      if (set.version === 1) expect(set.dirs).toHaveLength(2);
      // v2: no cpu.max at all where the group never had the cpu controller enabled, else unlimited.
      else if (existsSync(join(set.dirs[0]!, "cpu.max"))) expect(read(set.dirs[0]!, "cpu.max")).toMatch(/^max /);
    } finally {
      await destroyCgroup(set);
    }
  });

  describe.each(backendsUnderTest())("a %s sandbox with cpus 0.5", (backend) => {
    it("runs a busy loop that the kernel throttles at the quota (cpu.stat nr_throttled)", async () => {
      await withSandbox(
        backend,
        async (sandbox) => {
          const set = sandbox.record.cgroup!;
          expect(set.cpus).toBe(0.5);
          expect(sandbox.isolation).toContain("memory+pids+cpu limits (0.5 CPUs)");
          const exit = await sandbox.channel.exec({ argv: ["timeout", "1", "sh", "-c", "while :; do :; done"], timeoutMs: 20_000 });
          expect(exit.code).toBe(124); // the loop ran its whole second: slowed, not killed
          const throttled = /^nr_throttled (\d+)$/m.exec((await controllerFile(set, "cpu.stat")) ?? "")?.[1];
          expect(Number(throttled)).toBeGreaterThan(0);
        },
        { ...limits, cpus: 0.5 },
      );
    });
  });
});

describe("cgroups on a fake root (hosts this one is not)", () => {
  const group = process.env.IRONCLAW_CGROUP_PARENT!;
  const roots: string[] = [];
  afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
  /** A directory shaped like a cgroup mount; unlike cgroupfs, mkdir makes no control files, so those a write reads come ready. */
  function fakeRoot(files: Record<string, string>): string {
    const root = mkdtempSync(join(process.env.IRONCLAW_TEST_SCRATCH ?? "/tmp", "fake-cgroup-"));
    roots.push(root);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(root, path, ".."), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    return root;
  }
  const record = (set: SandboxRecord["cgroup"], cpus?: number): SandboxRecord => ({
    id: "x",
    backend: "namespace",
    owner: { pid: 1, start: "" },
    createdAt: "",
    workDir: "/nonexistent",
    cgroup: set,
    process: null,
    limits: { memoryMiB: 64, pidsMax: 32, ...(cpus !== undefined && { cpus }) },
  });

  it("v2 only: enables cpu beside memory and pids, and writes cpu.max as QUOTA PERIOD", async () => {
    const root = fakeRoot({ "cgroup.controllers": "cpuset cpu io memory pids", "cgroup.subtree_control": "", [`${group}/cgroup.subtree_control`]: "memory pids" });
    expect(await detectCgroups(root)).toMatchObject({ usable: true, version: 2, detail: "cgroup v2 (memory, pids, cpu)", cpu: { usable: true } });
    const id = sandboxId("cg");
    const set = await createCgroup(2, id, { ...small, cpus: 1.5 }, root);
    const dir = join(root, group, id);
    expect(set).toEqual({ version: 2, dirs: [dir], cpus: 1.5 });
    expect(cgroupDirs(2, id, root)).toEqual([dir]);
    expect([read(dir, "cpu.max"), read(dir, "memory.max"), read(dir, "pids.max")]).toEqual(["150000 100000", String(64 << 20), "32"]);
    // The kernel takes "+a +b" and adds; the fake file keeps only what was written last.
    expect(read(root, "cgroup.subtree_control")).toBe("+memory +pids +cpu");
    expect(read(join(root, group), "cgroup.subtree_control")).toBe("+cpu");
    expect(limitsInForce(record(set, 1.5))).toBe("cgroup v2 memory+pids+cpu limits (1.5 CPUs)");
  });

  it("v2 without the cpu controller: memory and pids limits, and the CPU limit said to be not in force", async () => {
    const root = fakeRoot({ "cgroup.controllers": "memory pids", "cgroup.subtree_control": "", [`${group}/cgroup.subtree_control`]: "" });
    const found = await detectCgroups(root);
    expect(found).toMatchObject({ usable: true, detail: "cgroup v2 (memory, pids; no CPU limit: cgroup v2 lacks the cpu controller)", cpu: { usable: false } });
    const set = await createCgroup(2, sandboxId("cg"), { ...small, cpus: 1 }, root);
    expect(set.cpus).toBeUndefined();
    expect(existsSync(join(set.dirs[0]!, "cpu.max"))).toBe(false);
    expect(read(root, "cgroup.subtree_control")).toBe("+memory +pids");
    expect(limitsInForce(record(set, 1))).toBe("cgroup v2 memory+pids limits; CPU limit not in force (no cpu controller)");
  });

  it("v1 without a cpu hierarchy: memory and pids only, no cpu directory", async () => {
    const root = fakeRoot({ "memory/.keep": "", "pids/.keep": "" });
    const found = await detectCgroups(root);
    expect(found).toMatchObject({ usable: true, version: 1, cpu: { usable: false, detail: `no cpu cgroup hierarchy with CFS bandwidth control at ${join(root, "cpu")}` } });
    const id = sandboxId("cg");
    const set = await createCgroup(1, id, { ...small, cpus: 1 }, root);
    expect(set).toEqual({ version: 1, dirs: [join(root, "memory", group, id), join(root, "pids", group, id)] });
    expect(existsSync(join(root, "cpu"))).toBe(false);
    expect(limitsInForce(record(null))).toBe("no memory, process or CPU limits");
    expect(limitsInForce(record(set))).toBe("cgroup v1 memory+pids limits; no CPU limit");
  });

  it("v1 with a cpu hierarchy: memory, cpu, pids; diagnostics find their controller's directory wherever it is", async () => {
    const root = fakeRoot({ "memory/.keep": "", "pids/.keep": "", "cpu/cpu.cfs_quota_us": "-1" });
    expect((await detectCgroups(root)).detail).toBe("cgroup v1 (memory, pids, cpu)");
    const id = sandboxId("cg");
    const set = await createCgroup(1, id, { ...small, cpus: 0.25 }, root);
    const [memory, cpu, pids] = cgroupDirs(1, id, root) as [string, string, string];
    expect(set).toEqual({ version: 1, dirs: [memory, cpu, pids], cpus: 0.25 });
    expect([read(cpu, "cpu.cfs_period_us"), read(cpu, "cpu.cfs_quota_us")]).toEqual(["100000", "25000"]);
    expect([await oomKilled(set), await pidsExhausted(set)]).toEqual([false, false]);
    writeFileSync(join(memory, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    writeFileSync(join(pids, "pids.events"), "max 3\n");
    expect([await oomKilled(set), await pidsExhausted(set)]).toEqual([true, true]);
  });

  it("refuses a quota the kernel would not take", async () => {
    const root = fakeRoot({ "cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": "" });
    for (const cpus of [0, -1, Number.NaN, 0.001]) {
      await expect(createCgroup(2, sandboxId("cg"), { ...small, cpus }, root)).rejects.toMatchObject({ code: "ELIMITS" });
    }
  });
});
