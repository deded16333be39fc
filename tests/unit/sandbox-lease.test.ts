// The sandbox lease on a real backend: whatever happens between acquiring and releasing, release
// destroys what exists (the store's newest record, the booted process), once.
import { describe, expect, it } from "vitest";
import { SandboxLease } from "../../actors/sandbox/sandbox-lease.ts";
import type { SandboxRecord, SandboxSpec } from "../../actors/sandbox/sandbox-driver.ts";
import { isAlive } from "../../actors/sandbox/host-process.ts";
import { backendsUnderTest, driver, env, limits, sandboxId } from "../support/backends.ts";
import { FaultDriver } from "../support/fault-driver.ts";

/** Counts destroys, over the real driver. */
class Counting extends FaultDriver {
  destroyed = 0;
  override async destroy(record: SandboxRecord): Promise<void> {
    this.destroyed++;
    await super.destroy(record);
  }
}

/** Makes the sandbox, then fails without removing it: what a lease must still find. */
class LeakyProvision extends FaultDriver {
  override async provision(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxRecord> {
    await super.provision(spec, signal);
    throw new Error("failed after making it");
  }
}

describe.each(backendsUnderTest().slice(0, 1))("the sandbox lease (%s)", (backend) => {
  it("destroys a booted sandbox, its process included, when the block holding it throws", async () => {
    let record: SandboxRecord | undefined;
    const task = async () => {
      await using lease = new SandboxLease(driver(backend), sandboxId(), env.store);
      await lease.provision({ limits });
      await lease.boot();
      record = lease.record();
      throw new Error("the task failed");
    };
    await expect(task()).rejects.toThrow("the task failed");
    expect(record?.process).toBeTruthy();
    expect(isAlive(record!.process!)).toBe(false);
    expect(env.store.read(record!.id)).toBeUndefined();
  });

  it("releases once, however many ways out reach it", async () => {
    const counting = new Counting(driver(backend));
    const lease = new SandboxLease(counting, sandboxId(), env.store);
    await lease.provision({ limits });
    await lease.boot();
    await Promise.all([lease.release(), lease.release(), lease[Symbol.asyncDispose]()]);
    await lease.release();
    expect(counting.destroyed).toBe(1);
    expect(env.store.read(lease.id)).toBeUndefined();
  });

  it("destroys what the store records when the provision that made it failed", async () => {
    const lease = new SandboxLease(new LeakyProvision(driver(backend)), sandboxId(), env.store);
    await expect(lease.provision({ limits })).rejects.toThrow("failed after making it");
    expect(env.store.read(lease.id)).toBeDefined();
    await lease.release();
    expect(env.store.read(lease.id)).toBeUndefined();
  });

  it("finds a lost lease by its id, and nothing where nothing is recorded", async () => {
    const made = new SandboxLease(driver(backend), sandboxId(), env.store);
    await made.provision({ limits });
    const found = SandboxLease.recorded(env.store, made.id, () => driver(backend));
    expect(found?.record()?.workDir).toBe(made.record()?.workDir);
    await found!.release();
    expect(env.store.read(made.id)).toBeUndefined();
    expect(SandboxLease.recorded(env.store, made.id, () => driver(backend))).toBeNull();
  });
});
