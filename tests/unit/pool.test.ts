// The pool finds its slots by what the orchestrator spawned them as, never by the shape of their
// ids: a child that merely looks like a slot (an MCP server may be named "pool-namespace-1") is
// neither counted, offered a lease, nor sent LEASE. Children are stub machines (no sandboxes).
import { describe, expect, it } from "vitest";
import { createActor, emit, setup } from "xstate";
import { orchestratorMachine } from "../../machines/orchestrator.machine.ts";
import { createPool } from "../../src/pool.ts";

const LIMITS = { memoryMiB: 512, pidsMax: 256, cpus: 1 };

type StubInput = { id: string; backend?: string; limits?: typeof LIMITS; leases?: string[] };

/** A slot that is ready at once and hands out a fake booted sandbox on LEASE. */
const stubSlot = setup({
  types: {
    input: {} as StubInput,
    context: {} as Required<Pick<StubInput, "id" | "backend" | "limits">> & { generation: number; failures: number; lastError: null },
    events: {} as { type: "LEASE"; leaseId: string } | { type: "STOP" },
  },
}).createMachine({
  context: ({ input }) => ({ id: input.id, backend: input.backend ?? "namespace", limits: input.limits ?? LIMITS, generation: 1, failures: 0, lastError: null }),
  initial: "ready",
  states: {
    ready: {
      on: {
        LEASE: {
          actions: emit(({ context, event }) => ({
            type: "slot.leased" as const,
            slotId: context.id,
            leaseId: event.leaseId,
            sandbox: { id: `${context.id}-g1`, isolation: "stub" } as never,
          })),
        },
        STOP: "done",
      },
    },
    done: { type: "final", output: () => ({ outcome: "normal" }) },
  },
});

/** Something else, named like a slot: it records any LEASE it is sent. */
const lookalike = setup({
  types: { input: {} as StubInput, context: {} as { leases: string[] }, events: {} as { type: "LEASE"; leaseId: string } | { type: "STOP" } },
}).createMachine({
  context: ({ input }) => ({ leases: input.leases ?? [] }),
  initial: "ready",
  states: {
    ready: { on: { LEASE: { actions: ({ context, event }) => context.leases.push(event.leaseId) }, STOP: "done" } },
    done: { type: "final", output: () => ({ outcome: "normal" }) },
  },
});

describe("the pool", () => {
  it("counts, leases and warms only the orchestrator's slot children, whatever other children are called", () => {
    const orchestrator = createActor(orchestratorMachine.provide({ actors: { slot: stubSlot as never, mcp: lookalike as never } }), { input: {} }).start();
    const leases: string[] = [];
    orchestrator.send({ type: "SPAWN", child: { id: "pool-namespace-1", src: "mcp", restart: "temporary", input: { id: "pool-namespace-1", leases } as never } });
    const pool = createPool(orchestrator);
    expect(pool.stats()).toEqual([]);
    expect(pool.lease("namespace", LIMITS)).toBeNull();
    expect(leases).toEqual([]);

    pool.warm({ backend: "namespace", size: 2, limits: LIMITS, refreshMs: 60_000 });
    expect(pool.stats().map((s) => s.id)).toEqual(["pool-namespace-2"]);
    expect(pool.lease("namespace", LIMITS)).toMatchObject({ id: "pool-namespace-2-g1" });
    expect(pool.lease("gvisor", LIMITS)).toBeNull();
    expect(leases).toEqual([]);
    orchestrator.stop();
  });
});
