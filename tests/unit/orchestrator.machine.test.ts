// The supervisor without sandboxes: children are stub machines that exit, fail, crash or
// ignore STOP on command, and backoff runs on XState's simulated clock.
import { describe, expect, it } from "vitest";
import { assign, createActor, setup, SimulatedClock } from "xstate";
import { orchestratorMachine, type ChildSpec, type OrchestratorEmitted } from "../../machines/orchestrator.machine.ts";

type StubInput = { id: string; ignoreStop?: boolean; log: string[] };

const stubVm = setup({
  types: { input: {} as StubInput, context: {} as StubInput & { failed: boolean }, events: {} as { type: "STOP" } | { type: "FAIL" } | { type: "CRASH" } | { type: "EXIT" } },
}).createMachine({
  context: ({ input }) => ({ ...input, failed: false }),
  initial: "running",
  states: {
    running: {
      on: {
        STOP: [
          { guard: ({ context }) => context.ignoreStop === true, actions: ({ context }) => context.log.push(`ignored STOP ${context.id}`) },
          { target: "done", actions: ({ context }) => context.log.push(`STOP ${context.id}`) },
        ],
        EXIT: "done",
        FAIL: { target: "done", actions: assign({ failed: true }) },
        CRASH: {
          actions: () => {
            throw new Error("boom");
          },
        },
      },
    },
    done: { type: "final" },
  },
  output: ({ context }) =>
    context.failed
      ? { outcome: "failed", id: context.id, failure: { stage: "ready", code: "ESTUB", message: "stub failed" }, teardown: null }
      : { outcome: "normal", id: context.id, teardown: null },
});

function harness(policy = {}) {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const events: OrchestratorEmitted[] = [];
  const actor = createActor(orchestratorMachine.provide({ actors: { vm: stubVm as never } }), {
    clock,
    input: { policy: { maxRestarts: 2, withinMs: 10_000, backoffBaseMs: 100, backoffMaxMs: 1000, ...policy }, childStopMs: 500, random: () => 1 },
  });
  actor.on("*", (e) => events.push(e as OrchestratorEmitted));
  actor.start();
  const spawn = (id: string, restart: ChildSpec["restart"], extra: Partial<StubInput> = {}, onGiveUp?: ChildSpec["onGiveUp"]) =>
    actor.send({ type: "SPAWN", child: { id, src: "vm", restart, ...(onGiveUp && { onGiveUp }), input: { id, log, ...extra } as never } });
  const child = (actorId: string) => actor.getSnapshot().children[actorId]!;
  return { actor, clock, log, events, spawn, child };
}

describe("orchestrator machine", () => {
  it("does not restart a temporary child that failed, and reports it", () => {
    const { actor, events, spawn, child } = harness();
    spawn("a", "temporary");
    child("a").send({ type: "FAIL" } as never);
    expect(actor.getSnapshot().children.a).toBeUndefined();
    expect(events.at(-1)).toMatchObject({ type: "child.exited", id: "a", abnormal: true, restarting: false, error: "stub failed" });
  });

  it("restarts a permanent child after a jittered backoff, under a fresh actor id", () => {
    const { actor, clock, events, spawn, child } = harness();
    spawn("p", "permanent");
    child("p").send({ type: "EXIT" } as never);
    clock.increment(99);
    expect(Object.keys(actor.getSnapshot().children)).toEqual([]);
    clock.increment(1);
    expect(Object.keys(actor.getSnapshot().children)).toEqual(["p-r1"]);
    expect(events.filter((e) => e.type === "child.started")).toEqual([
      { type: "child.started", id: "p", generation: 0 },
      { type: "child.started", id: "p", generation: 1 },
    ]);
  });

  it("restarts a transient child only after an abnormal exit", () => {
    const { actor, clock, spawn, child } = harness();
    spawn("t1", "transient");
    child("t1").send({ type: "EXIT" } as never);
    spawn("t2", "transient");
    child("t2").send({ type: "FAIL" } as never);
    clock.increment(1000);
    expect(Object.keys(actor.getSnapshot().children)).toEqual(["t2-r1"]);
  });

  it("escalates when a child exceeds its restart intensity, and shuts everything down", () => {
    const { actor, clock, spawn, child } = harness();
    spawn("other", "permanent");
    spawn("flaky", "permanent");
    const ids = ["flaky", "flaky-r1", "flaky-r2"];
    for (const id of ids) {
      child(id).send({ type: "FAIL" } as never);
      clock.increment(1000);
    }
    expect(actor.getSnapshot().status).toBe("done");
    expect(actor.getSnapshot().output).toMatchObject({ escalation: { id: "flaky" }, reason: expect.stringMatching(/^escalated: flaky failed 3 times/) });
  });

  it("gives up on a child marked remove, without taking the others down", () => {
    const { actor, clock, events, spawn, child } = harness();
    spawn("other", "permanent");
    spawn("server", "transient", {}, "remove");
    for (const id of ["server", "server-r1", "server-r2"]) {
      child(id).send({ type: "FAIL" } as never);
      clock.increment(1000);
    }
    expect(actor.getSnapshot().value).toBe("running");
    expect(Object.keys(actor.getSnapshot().children)).toEqual(["other"]);
    expect(events.at(-1)).toMatchObject({
      type: "child.exited",
      id: "server",
      restarting: false,
      error: "server failed 3 times within 10000 ms; not restarted again: stub failed",
    });
  });

  it("forgets restarts that fall out of the intensity window", () => {
    const { actor, clock, spawn, child } = harness();
    spawn("slow", "permanent");
    for (const id of ["slow", "slow-r1", "slow-r2", "slow-r3"]) {
      child(id).send({ type: "FAIL" } as never);
      clock.increment(10_000); // each failure's window has passed before the next
    }
    expect(actor.getSnapshot().status).toBe("active");
    expect(Object.keys(actor.getSnapshot().children)).toEqual(["slow-r4"]);
  });

  it("stops children in reverse start order on shutdown", () => {
    const { actor, log, spawn } = harness();
    for (const id of ["first", "second", "third"]) spawn(id, "permanent");
    actor.send({ type: "SHUTDOWN", reason: "test" });
    expect(log).toEqual(["STOP third", "STOP second", "STOP first"]);
    expect(actor.getSnapshot().output).toEqual({ reason: "test", escalation: null, forced: [] });
  });

  it("stops a child by force when it does not finish in time, and asks for it to be reaped", () => {
    const { actor, clock, events, spawn } = harness();
    spawn("good", "permanent");
    spawn("stuck", "permanent", { ignoreStop: true });
    actor.send({ type: "SHUTDOWN", reason: "test" });
    expect(actor.getSnapshot().status).toBe("active");
    clock.increment(500);
    expect(actor.getSnapshot().output).toEqual({ reason: "test", escalation: null, forced: ["stuck"] });
    expect(events).toContainEqual(expect.objectContaining({ type: "child.reap", actorId: "stuck" }));
    // Whoever waits for the child (a job, a daemon client) hears that it ended.
    expect(events).toContainEqual({
      type: "child.exited",
      id: "stuck",
      abnormal: true,
      output: null,
      error: "stopped by force: its teardown took longer than 500 ms",
      restarting: false,
    });
  });

  it("reaps a child whose machine crashed", () => {
    const { events, spawn, child } = harness();
    spawn("c", "temporary");
    child("c").send({ type: "CRASH" } as never);
    expect(events).toContainEqual(expect.objectContaining({ type: "child.reap", actorId: "c" }));
    expect(events.at(-1)).toMatchObject({ type: "child.exited", id: "c", abnormal: true, error: expect.stringMatching(/boom/) });
  });
});
