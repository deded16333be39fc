// A fault-injecting SandboxDriver: a real backend underneath, with failures and hangs placed
// exactly where a test asks for them. Every fault still leaves the real resources to be
// removed by the code under test, so a fault path that leaks fails the leak check.
import type { ProbeResult, Sandbox, SandboxDriver, SandboxRecord, SandboxSpec } from "../../actors/sandbox/sandbox-driver.ts";
import { createActor, fromPromise, toPromise, type PromiseActorLogic } from "xstate";
import { SandboxError } from "../../core/errors.ts";

export interface Faults {
  provision?: "fail" | "hang";
  boot?: "fail" | "hang";
  /** The guest never acknowledges shutdown and never exits by itself. */
  shutdown?: "hang";
  teardown?: "fail" | "hang";
  /** `exec` of the argv ["__crash__"] throws synchronously inside the vm's execute actor: a crashed actor. */
  crashOnExec?: boolean;
}

/** Resolves never, rejects when the actor waiting on it is stopped. */
function hang(signal?: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
}

export class FaultDriver implements SandboxDriver {
  readonly backend;
  readonly inner: SandboxDriver;
  private readonly faultsOf: (id: string) => Faults;

  /** Faults for every sandbox, or per sandbox id. */
  constructor(inner: SandboxDriver, faults: Faults | ((id: string) => Faults) = {}) {
    this.inner = inner;
    this.backend = inner.backend;
    this.faultsOf = typeof faults === "function" ? faults : () => faults;
  }

  probe(signal?: AbortSignal): Promise<ProbeResult> {
    return this.inner.probe(signal);
  }

  async provision(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxRecord> {
    const faults = this.faultsOf(spec.id);
    if (faults.provision === "fail") throw new SandboxError("EBACKEND", "injected fault: provision fails");
    const record = await this.inner.provision(spec, signal);
    if (faults.provision === "hang") return hang(signal);
    return record;
  }

  async boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox> {
    const faults = this.faultsOf(record.id);
    if (faults.boot === "fail") throw new SandboxError("EBOOT", "injected fault: boot fails");
    if (faults.boot === "hang") return hang(signal);
    const sandbox = await this.inner.boot(record, signal);
    if (faults.shutdown !== "hang" && !faults.crashOnExec) return sandbox;
    const channel = new Proxy(sandbox.channel, {
      get(target, prop) {
        if (prop === "shutdown" && faults.shutdown === "hang") return () => new Promise(() => {});
        // The vm's execute sends the job as it came (execEncoded); a probe or a test calls exec.
        if ((prop === "exec" || prop === "execEncoded") && faults.crashOnExec) {
          const run = Reflect.get(target, prop, target) as (...args: unknown[]) => unknown;
          return (options: { argv: readonly string[] }, ...rest: unknown[]) => {
            if (options.argv[0] === "__crash__") throw new Error("injected fault: the execute actor crashed");
            return run.call(target, options, ...rest);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return { ...sandbox, channel, diagnostics: sandbox.diagnostics };
  }

  async destroy(record: SandboxRecord): Promise<void> {
    const faults = this.faultsOf(record.id);
    await this.inner.destroy(record);
    if (faults.teardown === "fail") throw new Error("injected fault: teardown fails");
    if (faults.teardown === "hang") await new Promise(() => {});
  }
}

/**
 * A promise actor that waits before running the real one, when `slow(input)` says so: for the
 * paths where a test must act while that actor is still running.
 */
export function slowed<TOutput, TInput>(logic: PromiseActorLogic<TOutput, TInput>, slow: (input: TInput) => boolean, ms = 300) {
  return fromPromise<TOutput, TInput>(async ({ input }) => {
    if (slow(input)) await new Promise((r) => setTimeout(r, ms));
    const actor = createActor(logic, { input });
    const done = toPromise(actor);
    actor.start();
    return done;
  });
}
