// The pool on every backend, for real: slots prepare sandboxes ahead of time, a lease hands
// one sandbox to exactly one task (a vm actor that adopts it), the slot refills in the
// background, nothing of one task is visible to the next, and shutdown leaves nothing.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { waitFor, type ActorRefFrom } from "xstate";
import type { vmMachine, VmEmitted } from "../../machines/vm.machine.ts";
import { createRuntime } from "../../src/runtime.ts";
import { findImage, imageInputs } from "../../actors/sandbox/guest-image.ts";
import { findQemu } from "../../actors/sandbox/qemu.driver.ts";
import { backendsUnderTest, env, limits } from "../support/backends.ts";

async function runTask(vm: ActorRefFrom<typeof vmMachine>, script: string): Promise<{ code: number | null; stdout: string }> {
  let stdout = "";
  const sub = vm.on("exec.output", (e: Extract<VmEmitted, { type: "exec.output" }>) => (stdout += Buffer.from(e.data, "base64").toString()));
  const exit = new Promise<number | null>((resolve) => vm.on("exec.exit", (e: Extract<VmEmitted, { type: "exec.exit" }>) => resolve(e.result.code)));
  vm.send({ type: "EXEC", job: { argv: ["sh", "-c", script], timeoutMs: 10_000 } });
  const code = await exit;
  sub.unsubscribe();
  return { code, stdout };
}

// qemu too where it can run here: its slots restore VMs from a snapshot made on the first warm.
const vmReady = findQemu() !== null && findImage(imageInputs(env)) !== null;
const backends: string[] = [...backendsUnderTest(), ...(vmReady ? ["qemu"] : [])];

describe.each(backends)("pool on the %s backend", (backend) => {
  it("leases each ready sandbox to one task, refills, isolates tasks, and cleans up", async () => {
    const runtime = createRuntime({ logger: pino({ level: "silent" }) });
    const { orchestrator, pool } = runtime;
    orchestrator.start();
    const ready = () => pool.stats().filter((s) => s.state === "ready");
    const until = async (ok: () => boolean) => {
      for (let i = 0; i < 600 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(ok()).toBe(true);
    };
    try {
      pool.warm({ backend, size: 2, limits, refreshMs: 600_000 });
      await until(() => ready().length === 2);

      const tasks: string[] = [];
      const served: string[] = [];
      for (const n of [1, 2]) {
        const sandbox = pool.lease(backend, limits);
        expect(sandbox).not.toBeNull();
        served.push(sandbox!.id);
        const id = `task${n}-${backend}`;
        orchestrator.send({ type: "SPAWN", child: { id, src: "vm", restart: "temporary", input: { id, backend, limits, sandbox: sandbox! } } });
        const vm = orchestrator.getSnapshot().children[id] as ActorRefFrom<typeof vmMachine>;
        await waitFor(vm, (s) => s.matches({ running: "ready" }));
        const { code, stdout } = await runTask(vm, `cat /tmp/left-by-task1 2>/dev/null || echo clean; echo task${n} > /tmp/left-by-task1`);
        expect(code).toBe(0);
        tasks.push(stdout.trim());
        vm.send({ type: "STOP" });
        await waitFor(vm, (s) => s.status === "done");
        expect((vm.getSnapshot().output as { outcome: string }).outcome).toBe("normal");
      }
      // Two leases, two fresh sandboxes: the second task saw nothing of the first.
      expect(tasks).toEqual(["clean", "clean"]);
      // The slots refilled in the background, with new sandboxes.
      // (A fast backend may refill one slot before the second lease: which slots served is not fixed.)
      await until(() => ready().length === 2);
      expect(pool.stats().reduce((n, s) => n + s.generation, 0)).toBe(2 + 2);
      expect(new Set(served).size).toBe(2);
      // Every sandbox that served a task is gone; only the two ready ones are left.
      expect(runtime.store.list().filter((r) => r.owner.pid === process.pid)).toHaveLength(2);
    } finally {
      orchestrator.send({ type: "SHUTDOWN", reason: "test" });
      await runtime.stopped;
    }
    expect(runtime.store.list().filter((r) => r.owner.pid === process.pid)).toEqual([]);
    expect(pool.stats()).toEqual([]);
  });

  it("leases a slot only for the limits it was made with, CPU limit included", async () => {
    const runtime = createRuntime({ logger: pino({ level: "silent" }) });
    const { orchestrator, pool } = runtime;
    orchestrator.start();
    const made = { ...limits, cpus: 1 };
    try {
      pool.warm({ backend, size: 1, limits: made, refreshMs: 600_000 });
      for (let i = 0; i < 600 && !pool.stats().some((s) => s.state === "ready"); i++) await new Promise((r) => setTimeout(r, 50));
      expect(pool.stats().map((s) => s.state)).toEqual(["ready"]);
      // Another CPU limit, or none, is another sandbox: the caller boots its own.
      expect(pool.lease(backend, { ...limits, cpus: 0.5 })).toBeNull();
      expect(pool.lease(backend, limits)).toBeNull();
      expect(pool.stats().map((s) => s.state)).toEqual(["ready"]);
      const sandbox = pool.lease(backend, made);
      expect(sandbox).not.toBeNull();
      // Every sandbox of the pool, the leased one and its refill, is made with the slot's CPU limit.
      for (const r of runtime.store.list().filter((r) => r.owner.pid === process.pid)) expect(r.limits?.cpus).toBe(1);
      const id = `cpu-task-${backend}`;
      orchestrator.send({ type: "SPAWN", child: { id, src: "vm", restart: "temporary", input: { id, backend, limits: made, sandbox: sandbox! } } });
      const vm = orchestrator.getSnapshot().children[id] as ActorRefFrom<typeof vmMachine>;
      await waitFor(vm, (s) => s.matches({ running: "ready" }));
      vm.send({ type: "STOP" });
      await waitFor(vm, (s) => s.status === "done");
    } finally {
      orchestrator.send({ type: "SHUTDOWN", reason: "test" });
      await runtime.stopped;
    }
    expect(runtime.store.list().filter((r) => r.owner.pid === process.pid)).toEqual([]);
  });
});
