// The vm machine without I/O: its actors are stand-ins that resolve, fail or hang on command,
// and time is XState's simulated clock.
import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock, type EventObject } from "xstate";
import { getSimplePaths } from "xstate/graph";
import { vmMachine, type ExecJob, type RecordHandle, type SandboxHandle, type VmOutput } from "../../machines/vm.machine.ts";

const never = <T>() => new Promise<T>(() => {});
const input = { id: "vm1", backend: "test", limits: { memoryMiB: 64, pidsMax: 16 } };
const teardownReport = { oomKilled: false, pidsExhausted: false };
const booted = { handle: {} as SandboxHandle, id: "vm1", isolation: "stand-in" };

function harness(overrides: { boot?: "ok" | "fail" | "hang"; shutdown?: "ok" | "hang"; teardown?: "ok" | "fail" } = {}) {
  const calls: string[] = [];
  const machine = vmMachine.provide({
    actors: {
      provision: fromPromise(async () => (calls.push("provision"), {} as RecordHandle)),
      boot: fromPromise(async () => {
        calls.push("boot");
        if (overrides.boot === "fail") throw Object.assign(new Error("no kernel"), { code: "EBOOT" });
        if (overrides.boot === "hang") return never();
        return booted;
      }),
      watch: fromCallback(() => {}),
      execute: fromCallback<EventObject, { sandbox: SandboxHandle; job: ExecJob }>(({ input, sendBack }) => {
        calls.push(`execute:${input.job.argv.join(" ")}`);
        if (input.job.argv[0] === "hang") return;
        sendBack({ type: "EXEC.OUTPUT", stream: "stdout", data: Buffer.from("hi\n").toString("base64") });
        sendBack({ type: "EXEC.EXITED", result: { code: 7, signal: null, timedOut: false, truncated: false, outputBytes: 3, durationMs: 1, oomKilled: false } });
      }),
      shutdown: fromPromise(async () => {
        calls.push("shutdown");
        if (overrides.shutdown === "hang") return never();
      }),
      teardown: fromPromise(async () => {
        calls.push("teardown");
        if (overrides.teardown === "fail") throw new Error("rmdir failed");
        return teardownReport;
      }),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input, clock });
  const done = new Promise<VmOutput>((resolve) => actor.subscribe({ complete: () => resolve(actor.getSnapshot().output!) }));
  return { actor, clock, calls, done };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("vm machine", () => {
  it("boots, runs a job, emits its output and exit, stops and tears down", async () => {
    const { actor, calls, done } = harness();
    const emitted: string[] = [];
    actor.on("*", (e) => emitted.push(e.type));
    actor.start();
    await settle();
    expect(actor.getSnapshot().value).toEqual({ running: "ready" });
    actor.send({ type: "EXEC", job: { argv: ["echo", "hi"], timeoutMs: 1000 } });
    await settle();
    expect(emitted).toEqual(["exec.output", "exec.exit"]);
    actor.send({ type: "STOP" });
    expect(await done).toEqual({ outcome: "normal", id: "vm1", teardown: teardownReport });
    expect(calls).toEqual(["provision", "boot", "execute:echo hi", "shutdown", "teardown"]);
  });

  it("tears down and fails with the boot error when boot fails", async () => {
    const { actor, calls, done } = harness({ boot: "fail" });
    actor.start();
    const output = await done;
    expect(output).toMatchObject({ outcome: "failed", failure: { stage: "boot", code: "EBOOT", message: "no kernel" } });
    expect(calls).toEqual(["provision", "boot", "teardown"]);
  });

  it("gives up on a boot that hangs when the boot timeout passes", async () => {
    const { actor, clock, calls, done } = harness({ boot: "hang" });
    actor.start();
    await settle();
    clock.increment(30_000);
    expect(await done).toMatchObject({ outcome: "failed", failure: { stage: "boot", code: "ETIMEDOUT" } });
    expect(calls.at(-1)).toBe("teardown");
  });

  it("stops trusting the guest after the job's timeout plus grace", async () => {
    const { actor, clock, done } = harness();
    actor.start();
    await settle();
    actor.send({ type: "EXEC", job: { argv: ["hang"], timeoutMs: 1000 } });
    clock.increment(1000 + 4999);
    expect(actor.getSnapshot().value).toEqual({ running: "busy" });
    clock.increment(1);
    expect(await done).toMatchObject({ outcome: "failed", failure: { stage: "exec", code: "ETIMEDOUT" } });
  });

  it("still tears down when a graceful stop hangs", async () => {
    const { actor, clock, calls, done } = harness({ shutdown: "hang" });
    actor.start();
    await settle();
    actor.send({ type: "STOP" });
    clock.increment(3000);
    expect((await done).outcome).toBe("normal");
    expect(calls).toEqual(["provision", "boot", "shutdown", "teardown"]);
  });

  it("fails when the sandbox dies on its own, and when teardown itself fails", async () => {
    const a = harness();
    a.actor.start();
    await settle();
    a.actor.send({ type: "SANDBOX.EXITED", code: null, signal: "SIGKILL" });
    expect(await a.done).toMatchObject({ outcome: "failed", failure: { code: "ESANDBOX" } });

    const b = harness({ teardown: "fail" });
    b.actor.start();
    await settle();
    b.actor.send({ type: "STOP" });
    expect(await b.done).toMatchObject({ outcome: "failed", failure: { stage: "teardown", message: "rmdir failed" } });
  });

  it("has no path to a final state that skips teardown", () => {
    // Every simple path through the statechart, with every event the machine understands.
    const paths = getSimplePaths(vmMachine, {
      events: [
        { type: "xstate.done.actor.provision", output: {} },
        { type: "xstate.error.actor.provision", error: new Error("x") },
        { type: "xstate.done.actor.boot", output: booted },
        { type: "xstate.error.actor.boot", error: new Error("x") },
        { type: "EXEC", job: { argv: ["true"], timeoutMs: 1 } },
        { type: "EXEC.EXITED", result: { code: 0, signal: null, timedOut: false, truncated: false, outputBytes: 0, durationMs: 0, oomKilled: false } },
        { type: "EXEC.FAILED", code: "EPIPE", message: "x", fatal: true },
        { type: "EXEC.FAILED", code: "ENOENT", message: "x", fatal: false },
        { type: "SANDBOX.EXITED", code: 1, signal: null },
        { type: "STOP" },
        { type: "xstate.done.actor.shutdown" },
        { type: "xstate.done.actor.teardown", output: teardownReport },
        { type: "xstate.error.actor.teardown", error: new Error("x") },
      ] as never,
      input,
      serializeState: (s: { value: unknown; context: { failure: unknown } }) => JSON.stringify([s.value, s.context.failure !== null]),
    } as never);
    const finals = paths.filter((p) => p.state.status === "done");
    expect(finals.length).toBeGreaterThan(5);
    for (const path of finals) {
      expect(path.steps.map((s) => JSON.stringify(s.state.value))).toContain('"teardown"');
    }
  });
});
