// A fault-injecting SandboxDriver: a real backend underneath, with failures and hangs placed
// exactly where a test asks for them. Every fault still leaves the real resources to be
// removed by the code under test, so a fault path that leaks fails the leak check.
import type { ProbeResult, Sandbox, SandboxDriver, SandboxRecord, SandboxSpec } from "../../actors/sandbox-driver.ts";
import { SandboxError } from "../../actors/sandbox-driver.ts";

export interface Faults {
  provision?: "fail" | "hang";
  boot?: "fail" | "hang";
  /** The guest never acknowledges shutdown and never exits by itself. */
  shutdown?: "hang";
  teardown?: "fail" | "hang";
}

/** Resolves never, rejects when the actor waiting on it is stopped. */
function hang(signal?: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
}

export class FaultDriver implements SandboxDriver {
  readonly backend;
  readonly inner: SandboxDriver;
  faults: Faults;

  constructor(inner: SandboxDriver, faults: Faults = {}) {
    this.inner = inner;
    this.backend = inner.backend;
    this.faults = faults;
  }

  probe(signal?: AbortSignal): Promise<ProbeResult> {
    return this.inner.probe(signal);
  }

  async provision(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxRecord> {
    if (this.faults.provision === "fail") throw new SandboxError("EBACKEND", "injected fault: provision fails");
    const record = await this.inner.provision(spec, signal);
    if (this.faults.provision === "hang") return hang(signal);
    return record;
  }

  async boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox> {
    if (this.faults.boot === "fail") throw new SandboxError("EBOOT", "injected fault: boot fails");
    if (this.faults.boot === "hang") return hang(signal);
    const sandbox = await this.inner.boot(record, signal);
    if (this.faults.shutdown !== "hang") return sandbox;
    const channel = new Proxy(sandbox.channel, {
      get(target, prop) {
        if (prop === "shutdown") return () => new Promise(() => {});
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return { ...sandbox, channel, diagnostics: sandbox.diagnostics };
  }

  async destroy(record: SandboxRecord): Promise<void> {
    await this.inner.destroy(record);
    if (this.faults.teardown === "fail") throw new Error("injected fault: teardown fails");
    if (this.faults.teardown === "hang") await new Promise(() => {});
  }
}
