// The pool slot without I/O: stand-in actors that succeed, fail or hang on command, and XState's
// simulated clock for the refresh interval, the prepare timeout and the retry backoff.
import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock, type EventObject } from "xstate";
import { snapshotSlotMachine, type SlotEmitted } from "../../machines/snapshot-slot.machine.ts";
import type { BootedSandbox, SandboxHandle, VmLimits } from "../../machines/vm.machine.ts";

const handle = {} as SandboxHandle;
const settle = () => new Promise((r) => setTimeout(r, 0));

function harness(plan: Array<"ok" | "fail" | "hang"> = []) {
  const calls: string[] = [];
  let exitSandbox: (() => void) | undefined;
  const machine = snapshotSlotMachine.provide({
    actors: {
      prepare: fromPromise<BootedSandbox, { sandboxId: string; backend: string; limits: VmLimits }>(async ({ input }) => {
        calls.push(`prepare ${input.sandboxId}`);
        const step = plan.shift() ?? "ok";
        if (step === "fail") throw new Error(`restore of ${input.sandboxId} failed`);
        if (step === "hang") return new Promise<never>(() => {});
        return { handle, id: input.sandboxId, isolation: "stand-in" };
      }),
      watch: fromCallback<EventObject, { sandbox: SandboxHandle }>(({ sendBack }) => {
        exitSandbox = () => sendBack({ type: "SANDBOX.EXITED", code: null, signal: "SIGKILL" });
      }),
      discard: fromPromise<void, { sandbox: SandboxHandle | null; sandboxId: string }>(async ({ input }) => {
        calls.push(`discard ${input.sandboxId}${input.sandbox ? "" : " (by id)"}`);
      }),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, {
    clock,
    input: { id: "s1", backend: "test", limits: { memoryMiB: 64, pidsMax: 16 }, refreshMs: 60_000, retryBaseMs: 100, retryMaxMs: 1000, prepareTimeoutMs: 5000, random: () => 1 },
  });
  const emitted: SlotEmitted[] = [];
  actor.on("*", (e) => emitted.push(e as SlotEmitted));
  actor.start();
  return { actor, clock, calls, emitted, exit: () => exitSandbox?.() };
}

describe("snapshot-slot machine", () => {
  it("prepares a sandbox, hands it to exactly one lease, and refills under a new id", async () => {
    const { actor, calls, emitted } = harness();
    await settle();
    expect(actor.getSnapshot().value).toBe("ready");
    actor.send({ type: "LEASE", leaseId: "task-1" });
    actor.send({ type: "LEASE", leaseId: "task-2" }); // arrives while refilling: not served by the same sandbox
    await settle();
    expect(emitted.filter((e) => e.type === "slot.leased")).toEqual([
      { type: "slot.leased", slotId: "s1", leaseId: "task-1", sandbox: { handle, id: "s1-g1", isolation: "stand-in" } },
    ]);
    expect(calls).toEqual(["prepare s1-g1", "prepare s1-g2"]);
    expect(actor.getSnapshot().value).toBe("ready");
  });

  it("replaces a ready sandbox when it goes stale, and when it dies", async () => {
    const { actor, clock, calls, exit } = harness();
    await settle();
    clock.increment(60_000);
    await settle();
    expect(calls).toEqual(["prepare s1-g1", "discard s1-g1", "prepare s1-g2"]);
    exit();
    await settle();
    expect(calls.slice(3)).toEqual(["discard s1-g2", "prepare s1-g3"]);
    expect(actor.getSnapshot().value).toBe("ready");
  });

  it("retries a failed prepare with backoff after discarding what it left, and reports each failure", async () => {
    const { actor, clock, calls, emitted } = harness(["fail", "fail", "ok"]);
    await settle();
    expect(actor.getSnapshot().value).toBe("backoff");
    expect(emitted).toEqual([{ type: "slot.failed", slotId: "s1", message: "restore of s1-g1 failed", attempt: 1 }]);
    clock.increment(99);
    await settle();
    expect(calls).toEqual(["prepare s1-g1", "discard s1-g1 (by id)"]);
    clock.increment(1);
    await settle();
    expect(actor.getSnapshot().value).toBe("backoff"); // second failure: the next wait doubles
    clock.increment(199);
    await settle();
    expect(calls.at(-1)).toBe("discard s1-g2 (by id)");
    clock.increment(1);
    await settle();
    expect(actor.getSnapshot().value).toBe("ready");
    expect(actor.getSnapshot().context.failures).toBe(0);
  });

  it("gives up on a prepare that hangs", async () => {
    const { actor, clock, emitted } = harness(["hang"]);
    await settle();
    clock.increment(5000);
    await settle();
    expect(emitted[0]).toMatchObject({ type: "slot.failed", message: "preparing a sandbox took longer than 5000 ms" });
    expect(actor.getSnapshot().value).toBe("backoff");
  });

  it("on STOP discards its sandbox; while preparing, it first lets the prepare finish", async () => {
    const a = harness();
    await settle();
    a.actor.send({ type: "STOP" });
    await settle();
    expect(a.actor.getSnapshot().status).toBe("done");
    expect(a.calls).toEqual(["prepare s1-g1", "discard s1-g1"]);

    const b = harness();
    b.actor.send({ type: "STOP" }); // still creating
    expect(b.actor.getSnapshot().value).toBe("creating");
    await settle();
    expect(b.actor.getSnapshot().status).toBe("done");
    expect(b.calls).toEqual(["prepare s1-g1", "discard s1-g1"]);
  });
});
