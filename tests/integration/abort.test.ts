// A timeout in the vm or slot machine aborts provision or boot and starts teardown at once, so
// teardown races the step it interrupted. Whatever moment the abort lands, nothing may remain:
// no record, no work dir, no cgroup, no process.
import { existsSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cgroupDirs, detectCgroups } from "../../actors/sandbox/cgroup.ts";
import { backendsUnderTest, driver, env, limits, sandboxId } from "../support/backends.ts";

const cgroups = await detectCgroups();

function leftovers(id: string): string[] {
  const found: string[] = [];
  if (env.store.read(id)) found.push("record");
  if (existsSync(env.runDir) && readdirSync(env.runDir).some((n) => n.startsWith(`${id}-`))) found.push("work dir");
  if (cgroups.usable && cgroupDirs(cgroups.version, id).some((d) => existsSync(d))) found.push("cgroup");
  return found;
}

/** What the machine's teardown actor does when the timeout fires: destroy whatever is recorded now. */
async function teardownNow(backend: Parameters<typeof driver>[0], id: string): Promise<void> {
  const record = env.store.read(id);
  if (record) await driver(backend).destroy(record);
}

describe.each(backendsUnderTest())("%s: aborted mid-way, teardown racing", (backend) => {
  it.each([0, 1, 3, 10, 30])("provision aborted after %i ms leaves nothing", async (delay) => {
    const id = sandboxId("ab");
    const abort = new AbortController();
    const provision = driver(backend).provision({ id, backend, limits }, abort.signal);
    let beforeAbort = false;
    provision.then(
      () => (beforeAbort = !abort.signal.aborted),
      () => {},
    );
    await new Promise((r) => setTimeout(r, delay));
    abort.abort();
    const [provisioned] = await Promise.allSettled([provision, teardownNow(backend, id)]);
    // Finished before the abort: the machine took it and would destroy it later. Finished
    // after: the machine has moved on and drops the result, so it must have cleaned up itself.
    if (provisioned.status === "fulfilled" && beforeAbort) await driver(backend).destroy(provisioned.value);
    expect(leftovers(id)).toEqual([]);
  });

  it.each([0, 5, 50])("boot aborted after %i ms leaves nothing", async (delay) => {
    const id = sandboxId("ab");
    const record = await driver(backend).provision({ id, backend, limits });
    const abort = new AbortController();
    const boot = driver(backend).boot(record, abort.signal);
    let beforeAbort = false;
    boot.then(
      () => (beforeAbort = !abort.signal.aborted),
      () => {},
    );
    await new Promise((r) => setTimeout(r, delay));
    abort.abort();
    const [booted] = await Promise.allSettled([boot, teardownNow(backend, id)]);
    if (booted.status === "fulfilled" && beforeAbort) await driver(backend).destroy(booted.value.record);
    expect(leftovers(id)).toEqual([]);
  });
});
