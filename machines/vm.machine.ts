// One sandbox's life as a statechart. Pure: every effect is an actor named here and
// implemented in actors/ (injected with .provide()), every wait is bounded by an `after`.
// The shape carries the project's central guarantee: the only way into a final state is
// through `teardown`, whose actor removes the sandbox and every host resource it made.
import { failureOf } from "../core/errors.ts";
import type { BootedSandbox, RecordHandle, SandboxHandle } from "../core/handles.ts";
import { notProvided } from "./not-provided.ts";
import type { ExecJob, ExecOutput, ExecResult } from "../core/exec.ts";

const codeAndMessage = (error: unknown) => {
  const { code, message } = failureOf(error);
  return { code, message };
};
import { assign, emit, fromCallback, fromPromise, setup, type EventObject } from "xstate";

export interface VmLimits {
  readonly memoryMiB: number;
  readonly pidsMax: number;
  /** CPUs' worth of time the sandbox may use (fractions allowed); absent: no quota. */
  readonly cpus?: number;
}

export interface VmTimeouts {
  readonly provisionMs: number;
  readonly bootMs: number;
  /** Added to a job's own timeout before the host stops trusting the guest to enforce it. */
  readonly execGraceMs: number;
  readonly stopMs: number;
  readonly teardownMs: number;
}

export const DEFAULT_VM_TIMEOUTS: VmTimeouts = {
  provisionMs: 10_000,
  bootMs: 30_000,
  execGraceMs: 5_000,
  stopMs: 3_000,
  teardownMs: 10_000,
};

export interface VmInput {
  readonly id: string;
  readonly backend: string;
  readonly limits: VmLimits;
  readonly timeouts?: Partial<VmTimeouts>;
  /** A sandbox already booted (leased from a pool slot): the vm adopts it and skips provisioning and boot. */
  readonly sandbox?: BootedSandbox;
}

/** A job and its result are core/exec.ts's, the same at every hop from the CLI to the guest. */
export type { ExecJob, ExecResult } from "../core/exec.ts";

export type VmStage = "provision" | "boot" | "ready" | "exec" | "stop" | "teardown";
export interface VmFailure {
  readonly stage: VmStage;
  readonly code: string;
  readonly message: string;
}

/** What teardown found and did; the reaper and the CLI read it. */
export interface TeardownReport {
  readonly oomKilled: boolean;
  readonly pidsExhausted: boolean;
}

export type VmOutput =
  | { readonly outcome: "normal"; readonly id: string; readonly teardown: TeardownReport }
  | { readonly outcome: "failed"; readonly id: string; readonly failure: VmFailure; readonly teardown: TeardownReport | null };

/** The live sandbox is opaque to the machine (a branded handle): only actors look inside. */
export type { BootedSandbox, RecordHandle, SandboxHandle };

export type VmEvent =
  | { type: "EXEC"; job: ExecJob }
  | { type: "STOP" }
  | ({ type: "EXEC.OUTPUT" } & ExecOutput)
  | { type: "EXEC.EXITED"; result: ExecResult }
  /** `fatal` when the sandbox or its agent broke; otherwise the command alone failed (not found, …). */
  | { type: "EXEC.FAILED"; code: string; message: string; fatal: boolean }
  | { type: "SANDBOX.EXITED"; code: number | null; signal: string | null };

export type VmEmitted = ({ type: "exec.output" } & ExecOutput) | { type: "exec.exit"; result: ExecResult } | { type: "exec.error"; code: string; message: string };

interface VmContext {
  readonly id: string;
  readonly backend: string;
  readonly limits: VmLimits;
  readonly timeouts: VmTimeouts;
  record: RecordHandle | null;
  sandbox: SandboxHandle | null;
  /** The id the sandbox is recorded under: the vm's own, or the adopted sandbox's. */
  sandboxId: string;
  /** The isolation in force, once booted (plain data: src/ reads this, never the handle). */
  isolation: string | null;
  job: ExecJob | null;
  failure: VmFailure | null;
  teardown: TeardownReport | null;
  stopRequested: boolean;
}

export const vmMachine = setup({
  types: {
    context: {} as VmContext,
    events: {} as VmEvent,
    input: {} as VmInput,
    output: {} as VmOutput,
    emitted: {} as VmEmitted,
  },
  actors: {
    provision: fromPromise<RecordHandle, { id: string; backend: string; limits: VmLimits }>(notProvided("vm", "provision")),
    boot: fromPromise<BootedSandbox, { record: RecordHandle }>(notProvided("vm", "boot")),
    /** Watches the running sandbox; sends SANDBOX.EXITED if it dies on its own. */
    watch: fromCallback<EventObject, { sandbox: SandboxHandle }>(notProvided("vm", "watch")),
    /** Runs one job; sends EXEC.OUTPUT*, then EXEC.EXITED or EXEC.FAILED. Stopping it cancels the job. */
    execute: fromCallback<EventObject, { sandbox: SandboxHandle; job: ExecJob }>(notProvided("vm", "execute")),
    shutdown: fromPromise<void, { sandbox: SandboxHandle }>(notProvided("vm", "shutdown")),
    teardown: fromPromise<TeardownReport, { id: string; record: RecordHandle | null; sandbox: SandboxHandle | null }>(notProvided("vm", "teardown")),
  },
  delays: {
    provisionTimeout: ({ context }) => context.timeouts.provisionMs,
    bootTimeout: ({ context }) => context.timeouts.bootMs,
    execDeadline: ({ context }) => (context.job?.timeoutMs ?? 0) + context.timeouts.execGraceMs,
    stopTimeout: ({ context }) => context.timeouts.stopMs,
    teardownTimeout: ({ context }) => context.timeouts.teardownMs,
  },
  actions: {
    fail: assign({ failure: (_, failure: VmFailure) => failure }),
  },
  guards: {
    isFatal: ({ event }) => event.type === "EXEC.FAILED" && event.fatal,
    stopRequested: ({ context }) => context.stopRequested,
    noFailure: ({ context }) => context.failure === null,
    adopted: ({ context }) => context.sandbox !== null,
  },
}).createMachine({
  id: "vm",
  context: ({ input }) => ({
    id: input.id,
    backend: input.backend,
    limits: input.limits,
    timeouts: { ...DEFAULT_VM_TIMEOUTS, ...input.timeouts },
    record: null,
    sandbox: input.sandbox?.handle ?? null,
    sandboxId: input.sandbox?.id ?? input.id,
    isolation: input.sandbox?.isolation ?? null,
    job: null,
    failure: null,
    teardown: null,
    stopRequested: false,
  }),
  initial: "created",
  states: {
    created: {
      always: [{ guard: "adopted", target: "running" }, { target: "provisioning" }],
    },
    provisioning: {
      invoke: {
        id: "provision",
        src: "provision",
        input: ({ context }) => ({ id: context.id, backend: context.backend, limits: context.limits }),
        onDone: [
          { guard: "stopRequested", target: "teardown", actions: assign({ record: ({ event }) => event.output }) },
          { target: "booting", actions: assign({ record: ({ event }) => event.output }) },
        ],
        onError: {
          target: "teardown",
          actions: { type: "fail", params: ({ event }) => ({ stage: "provision" as const, ...codeAndMessage(event.error) }) },
        },
      },
      after: {
        provisionTimeout: {
          target: "teardown",
          actions: {
            type: "fail",
            params: ({ context }) => ({ stage: "provision" as const, code: "ETIMEDOUT", message: `provisioning took longer than ${context.timeouts.provisionMs} ms` }),
          },
        },
      },
      // Provisioning is short and makes host resources as it goes: let it finish, then tear
      // down what it made, rather than race a teardown against it.
      on: { STOP: { actions: assign({ stopRequested: true }) } },
    },
    booting: {
      invoke: {
        id: "boot",
        src: "boot",
        input: ({ context }) => ({ record: context.record! }),
        onDone: {
          target: "running",
          actions: assign({ sandbox: ({ event }) => event.output.handle, sandboxId: ({ event }) => event.output.id, isolation: ({ event }) => event.output.isolation }),
        },
        onError: {
          target: "teardown",
          actions: { type: "fail", params: ({ event }) => ({ stage: "boot" as const, ...codeAndMessage(event.error) }) },
        },
      },
      after: {
        bootTimeout: {
          target: "teardown",
          actions: {
            type: "fail",
            params: ({ context }) => ({ stage: "boot" as const, code: "ETIMEDOUT", message: `the guest agent did not start within ${context.timeouts.bootMs} ms` }),
          },
        },
      },
      on: { STOP: "teardown" },
    },
    // The sandbox is up: watch it for as long as it is, in ready and busy alike.
    running: {
      invoke: { id: "watch", src: "watch", input: ({ context }) => ({ sandbox: context.sandbox! }) },
      on: {
        "SANDBOX.EXITED": {
          target: "teardown",
          actions: {
            type: "fail",
            params: ({ event }) => ({
              stage: "ready" as const,
              code: "ESANDBOX",
              message: `the sandbox exited unexpectedly (${event.signal ?? `exit ${event.code}`})`,
            }),
          },
        },
        STOP: ".stopping",
      },
      initial: "ready",
      states: {
        ready: {
          on: { EXEC: { target: "busy", actions: assign({ job: ({ event }) => event.job }) } },
        },
        busy: {
          invoke: { id: "execute", src: "execute", input: ({ context }) => ({ sandbox: context.sandbox!, job: context.job! }) },
          on: {
            "EXEC.OUTPUT": { actions: emit(({ event }) => ({ type: "exec.output" as const, stream: event.stream, data: event.data })) },
            "EXEC.EXITED": {
              target: "ready",
              actions: [emit(({ event }) => ({ type: "exec.exit" as const, result: event.result })), assign({ job: null })],
            },
            "EXEC.FAILED": [
              {
                guard: "isFatal",
                target: "#vm.teardown",
                actions: [
                  emit(({ event }) => ({ type: "exec.error" as const, code: event.code, message: event.message })),
                  { type: "fail", params: ({ event }) => ({ stage: "exec" as const, code: event.code, message: event.message }) },
                ],
              },
              {
                target: "ready",
                actions: [emit(({ event }) => ({ type: "exec.error" as const, code: event.code, message: event.message })), assign({ job: null })],
              },
            ],
          },
          after: {
            execDeadline: {
              target: "#vm.teardown",
              actions: {
                type: "fail",
                params: ({ context }) => ({
                  stage: "exec" as const,
                  code: "ETIMEDOUT",
                  message: `the guest agent did not end the command within its ${context.job?.timeoutMs} ms timeout`,
                }),
              },
            },
          },
        },
        stopping: {
          invoke: {
            id: "shutdown",
            src: "shutdown",
            input: ({ context }) => ({ sandbox: context.sandbox! }),
            onDone: "#vm.teardown",
            onError: "#vm.teardown",
          },
          after: { stopTimeout: "#vm.teardown" },
          // The agent exiting is what a shutdown asks for, not a failure.
          on: { STOP: {}, "SANDBOX.EXITED": "#vm.teardown" },
        },
      },
    },
    teardown: {
      invoke: {
        id: "teardown",
        src: "teardown",
        input: ({ context }) => ({ id: context.id, record: context.record, sandbox: context.sandbox }),
        onDone: [
          { guard: "noFailure", target: "destroyed", actions: assign({ teardown: ({ event }) => event.output }) },
          { target: "failed", actions: assign({ teardown: ({ event }) => event.output }) },
        ],
        onError: {
          target: "failed",
          actions: {
            type: "fail",
            params: ({ context, event }) => context.failure ?? { stage: "teardown" as const, ...codeAndMessage(event.error) },
          },
        },
      },
      after: {
        teardownTimeout: {
          target: "failed",
          actions: {
            type: "fail",
            params: ({ context }) => context.failure ?? { stage: "teardown" as const, code: "ETIMEDOUT", message: `teardown took longer than ${context.timeouts.teardownMs} ms` },
          },
        },
      },
      // Teardown always runs to completion: nothing may interrupt it.
      on: { STOP: {} },
    },
    destroyed: { type: "final" },
    failed: { type: "final" },
  },
  output: ({ context }): VmOutput =>
    context.failure
      ? { outcome: "failed", id: context.id, failure: context.failure, teardown: context.teardown }
      : { outcome: "normal", id: context.id, teardown: context.teardown ?? { oomKilled: false, pidsExhausted: false } },
});

export type VmMachine = typeof vmMachine;

/** The sandboxes a vm that ended without its teardown may have left: its own, or the one it adopted. */
export function heldSandboxes(context: Pick<VmContext, "id" | "sandboxId">): string[] {
  return [...new Set([context.id, context.sandboxId])];
}
