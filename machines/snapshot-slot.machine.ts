// One pool slot: keeps one sandbox ready so that a task does not wait for a boot. Pure, like
// every machine: `prepare` (a pre-started sandbox, or a VM restored from its snapshot) and
// `discard` are actors injected from actors/. A lease hands the sandbox over — it then belongs
// to the task and is destroyed after it — and the slot refills in the background. A ready
// sandbox that ages past the refresh interval is replaced, so no slot serves a stale image,
// and a sandbox never serves two tasks.
import { backoffDelay } from "../core/backoff.ts";
import type { BootedSandbox } from "../core/handles.ts";
import { slotSandboxId } from "../core/ids.ts";
import { notProvided } from "./not-provided.ts";
import { assign, emit, fromCallback, fromPromise, setup, type EventObject } from "xstate";
import type { SandboxHandle, VmLimits } from "./vm.machine.ts";

export interface SlotInput {
  readonly id: string;
  readonly backend: string;
  readonly limits: VmLimits;
  /** A ready sandbox older than this is replaced. */
  readonly refreshMs: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Upper bound on one `prepare`; a hung boot must not hold the slot forever. */
  readonly prepareTimeoutMs?: number;
  readonly random?: () => number;
}

export type SlotEvent = { type: "LEASE"; leaseId: string } | { type: "STOP" } | { type: "SANDBOX.EXITED"; code: number | null; signal: string | null };

export type SlotEmitted =
  { type: "slot.leased"; slotId: string; leaseId: string; sandbox: BootedSandbox } | { type: "slot.failed"; slotId: string; message: string; attempt: number };

interface SlotContext {
  readonly id: string;
  readonly backend: string;
  readonly limits: VmLimits;
  readonly refreshMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly prepareTimeoutMs: number;
  readonly random: () => number;
  sandbox: BootedSandbox | null;
  /** Each prepared sandbox gets a fresh id: `<slot>-g<generation>` (core/ids.ts). */
  generation: number;
  failures: number;
  lastError: string | null;
  stopRequested: boolean;
}

/** The id of the sandbox a slot's current generation is made under (and torn down by). */
const generationId = (context: SlotContext): string => slotSandboxId(context.id, context.generation);

/** The sandboxes a slot that ended without discarding may have left: its current generation's. */
export function heldSandboxes(context: Pick<SlotContext, "id" | "generation" | "sandbox">): string[] {
  return [...new Set([slotSandboxId(context.id, context.generation), ...(context.sandbox ? [context.sandbox.id] : [])])];
}

export const snapshotSlotMachine = setup({
  types: {
    context: {} as SlotContext,
    events: {} as SlotEvent,
    input: {} as SlotInput,
    emitted: {} as SlotEmitted,
  },
  actors: {
    prepare: fromPromise<BootedSandbox, { sandboxId: string; backend: string; limits: VmLimits }>(notProvided("snapshot-slot", "prepare")),
    watch: fromCallback<EventObject, { sandbox: SandboxHandle }>(notProvided("snapshot-slot", "watch")),
    discard: fromPromise<void, { sandbox: SandboxHandle | null; sandboxId: string }>(notProvided("snapshot-slot", "discard")),
  },
  guards: {
    stopRequested: ({ context }) => context.stopRequested,
  },
  delays: {
    refresh: ({ context }) => context.refreshMs,
    prepareTimeout: ({ context }) => context.prepareTimeoutMs,
    retry: ({ context }) => backoffDelay({ backoffBaseMs: context.retryBaseMs, backoffMaxMs: context.retryMaxMs }, Math.max(0, context.failures - 1), context.random),
  },
}).createMachine({
  id: "slot",
  context: ({ input }) => ({
    id: input.id,
    backend: input.backend,
    limits: input.limits,
    refreshMs: input.refreshMs,
    retryBaseMs: input.retryBaseMs ?? 500,
    retryMaxMs: input.retryMaxMs ?? 60_000,
    prepareTimeoutMs: input.prepareTimeoutMs ?? 60_000,
    random: input.random ?? Math.random,
    sandbox: null,
    generation: 0,
    failures: 0,
    lastError: null,
    stopRequested: false,
  }),
  initial: "creating",
  states: {
    creating: {
      entry: assign({ generation: ({ context }) => context.generation + 1 }),
      invoke: {
        id: "prepare",
        src: "prepare",
        input: ({ context }) => ({ sandboxId: generationId(context), backend: context.backend, limits: context.limits }),
        onDone: [
          { guard: "stopRequested", target: "stopping", actions: assign({ sandbox: ({ event }) => event.output }) },
          { target: "ready", actions: assign({ sandbox: ({ event }) => event.output, failures: 0, lastError: null }) },
        ],
        onError: [
          { guard: "stopRequested", target: "stopping" },
          {
            target: "failed",
            actions: assign({
              failures: ({ context }) => context.failures + 1,
              lastError: ({ event }) => (event.error as Error)?.message ?? String(event.error),
            }),
          },
        ],
      },
      after: {
        prepareTimeout: {
          target: "failed",
          actions: assign({
            failures: ({ context }) => context.failures + 1,
            lastError: ({ context }) => `preparing a sandbox took longer than ${context.prepareTimeoutMs} ms`,
          }),
        },
      },
      // Preparing makes host resources as it goes: let it finish, then discard what it made
      // (the vm machine does the same while provisioning, for the same reason).
      on: { STOP: { actions: assign({ stopRequested: true }) } },
    },
    ready: {
      invoke: { id: "watch", src: "watch", input: ({ context }) => ({ sandbox: context.sandbox!.handle }) },
      after: { refresh: "refreshing" },
      on: {
        LEASE: {
          target: "creating",
          actions: [
            emit(({ context, event }) => ({ type: "slot.leased" as const, slotId: context.id, leaseId: event.leaseId, sandbox: context.sandbox! })),
            // From here the sandbox is the task's; the slot refills.
            assign({ sandbox: null }),
          ],
        },
        "SANDBOX.EXITED": { target: "refreshing", actions: assign({ lastError: "the ready sandbox exited on its own" }) },
        STOP: "stopping",
      },
    },
    refreshing: {
      invoke: {
        id: "discard",
        src: "discard",
        input: ({ context }) => ({ sandbox: context.sandbox?.handle ?? null, sandboxId: generationId(context) }),
        onDone: { target: "creating", actions: assign({ sandbox: null }) },
        onError: { target: "creating", actions: assign({ sandbox: null }) },
      },
      on: { STOP: "stopping" },
    },
    failed: {
      entry: emit(({ context }) => ({ type: "slot.failed" as const, slotId: context.id, message: context.lastError ?? "unknown", attempt: context.failures })),
      // A failed prepare may have left part of a sandbox: discard what its id names, then wait.
      invoke: {
        id: "discardFailed",
        src: "discard",
        input: ({ context }) => ({ sandbox: null, sandboxId: generationId(context) }),
        onDone: "backoff",
        onError: "backoff",
      },
      on: { STOP: { actions: assign({ stopRequested: true }) } },
    },
    backoff: {
      always: { guard: "stopRequested", target: "stopped" },
      after: { retry: "creating" },
      on: { STOP: "stopped" },
    },
    stopping: {
      invoke: {
        id: "discardOnStop",
        src: "discard",
        input: ({ context }) => ({ sandbox: context.sandbox?.handle ?? null, sandboxId: generationId(context) }),
        onDone: { target: "stopped", actions: assign({ sandbox: null }) },
        onError: { target: "stopped", actions: assign({ sandbox: null }) },
      },
    },
    stopped: { type: "final" },
  },
  // A slot never gives up by itself (it retries with backoff), so it only ends when stopped.
  output: ({ context }) => ({ outcome: "normal" as const, id: context.id }),
});

export type SnapshotSlotMachine = typeof snapshotSlotMachine;
