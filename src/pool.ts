// The pool: slots of ready sandboxes, one snapshot-slot actor each, supervised by the
// orchestrator as permanent children like everything else. This module only finds a ready
// slot made with the limits asked for and asks it for its sandbox; the slots do the rest
// (refill, refresh, retry).
import { nanoid } from "nanoid";
import type { Actor, AnyActorRef } from "xstate";
import type { SlotEmitted } from "../machines/snapshot-slot.machine.ts";
import type { orchestratorMachine } from "../machines/orchestrator.machine.ts";
import type { BootedSandbox, VmLimits } from "../machines/vm.machine.ts";
import { poolSlotId } from "../core/ids.ts";

export interface PoolOptions {
  readonly backend: string;
  readonly size: number;
  readonly limits: VmLimits;
  readonly refreshMs: number;
}

export interface SlotStats {
  readonly id: string;
  readonly backend: string;
  readonly state: string;
  readonly generation: number;
  readonly failures: number;
  readonly lastError: string | null;
}

export interface Pool {
  /** Adds slots until `size` exist for the backend; each starts preparing a sandbox at once. */
  warm(options: PoolOptions): void;
  /**
   * Takes the sandbox of a ready slot of the backend made with exactly these limits, or null when
   * none is ready: the caller then boots cold. A sandbox's limits are fixed when it is made.
   */
  lease(backend: string, limits: VmLimits): BootedSandbox | null;
  stats(): SlotStats[];
}

/** Same memory, processes and CPU (a slot made without a CPU quota serves only a lease without one). */
export function sameLimits(a: VmLimits, b: VmLimits): boolean {
  return a.memoryMiB === b.memoryMiB && a.pidsMax === b.pidsMax && a.cpus === b.cpus;
}

export function createPool(orchestrator: Actor<typeof orchestratorMachine>): Pool {
  // Slots are found by what the orchestrator spawned them as, not by their ids' shape: an MCP
  // server may be named anything, "pool-namespace-1" included.
  const slots = (backend?: string): Array<[string, AnyActorRef]> =>
    orchestrator
      .getSnapshot()
      .context.children.flatMap((c) => (c.src === "slot" && c.ref && (backend === undefined || c.input.backend === backend) ? [[c.id, c.ref] as [string, AnyActorRef]] : []));

  return {
    warm({ backend, size, limits, refreshMs }) {
      const existing = new Set(orchestrator.getSnapshot().context.children.map((c) => c.id));
      for (let n = 1; n <= size; n++) {
        const id = poolSlotId(backend, n);
        if (existing.has(id)) continue;
        orchestrator.send({ type: "SPAWN", child: { id, src: "slot", restart: "permanent", input: { id, backend, limits, refreshMs } } });
      }
    },

    lease(backend, limits) {
      for (const [, slot] of slots(backend)) {
        const snap = slot.getSnapshot() as { value: unknown; context: { limits: VmLimits } };
        if (snap.value !== "ready" || !sameLimits(snap.context.limits, limits)) continue;
        const leaseId = nanoid(10);
        let sandbox: BootedSandbox | null = null;
        // LEASE is handled synchronously, so the hand-over is emitted before send() returns.
        const sub = slot.on("slot.leased", (e: Extract<SlotEmitted, { type: "slot.leased" }>) => {
          if (e.leaseId === leaseId) sandbox = e.sandbox;
        });
        slot.send({ type: "LEASE", leaseId });
        sub.unsubscribe();
        if (sandbox) return sandbox;
      }
      return null;
    },

    stats() {
      return slots().map(([id, slot]) => {
        const snap = slot.getSnapshot() as { value: string; context: { backend: string; generation: number; failures: number; lastError: string | null } };
        return { id, backend: snap.context.backend, state: snap.value, generation: snap.context.generation, failures: snap.context.failures, lastError: snap.context.lastError };
      });
    },
  };
}
