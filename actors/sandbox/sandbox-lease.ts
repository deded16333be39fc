// One sandbox held from provision to destroy, as a scoped resource (an AsyncDisposable). A
// holder that is one function (a probe, making a VM snapshot) writes `await using`; a holder
// whose hold spans several actors (a vm, a pool slot) or an object's life (a sandboxed MCP
// server) passes the lease along as a handle (sandbox-handle.ts) and releases it where its hold
// ends. Releasing is written here once, and runs once however many paths reach it.
import type { BackendName } from "../../core/backend.ts";
import { destroySandbox, type Sandbox, type SandboxDriver, type SandboxRecord, type SandboxSpec } from "./sandbox-driver.ts";
import type { SandboxStore } from "./sandbox-store.ts";
import { SandboxError } from "../../core/errors.ts";

export type BootFn = (record: SandboxRecord, signal?: AbortSignal) => Promise<Sandbox>;

export class SandboxLease implements AsyncDisposable {
  /** The id the sandbox is recorded under. */
  readonly id: string;
  readonly driver: SandboxDriver;
  private readonly store: SandboxStore | undefined;
  private provisioned: SandboxRecord | undefined;
  private booted: Sandbox | undefined;
  private released: Promise<void> | undefined;

  /**
   * A lease on the sandbox to be recorded as `id`, holding nothing yet. `store` is where the
   * driver records it: given, release destroys the newest record it holds (boot adds the pid).
   */
  constructor(driver: SandboxDriver, id: string, store?: SandboxStore) {
    this.driver = driver;
    this.id = id;
    this.store = store;
  }

  /**
   * A lease on what `store` records as `id`, for a holder left without its lease (a provision
   * that failed half-way, a slot's prepare that did): null when nothing is recorded.
   */
  static recorded(store: SandboxStore, id: string, driverFor: (backend: BackendName) => SandboxDriver): SandboxLease | null {
    const record = store.read(id);
    if (!record) return null;
    const lease = new SandboxLease(driverFor(record.backend), id, store);
    lease.provisioned = record;
    return lease;
  }

  /** Makes the sandbox's host resources (the driver records them first). */
  async provision(spec: Omit<SandboxSpec, "id" | "backend">, signal?: AbortSignal): Promise<SandboxRecord> {
    this.provisioned = await this.driver.provision({ ...spec, id: this.id, backend: this.driver.backend }, signal);
    return this.provisioned;
  }

  /** Boots what was provisioned: with the driver's boot, or the holder's own (a snapshot's maker boots cold). */
  async boot(signal?: AbortSignal, boot: BootFn = (record, s) => this.driver.boot(record, s)): Promise<Sandbox> {
    if (!this.provisioned) throw new SandboxError("EBOOT", `sandbox ${this.id} was never provisioned`);
    this.booted = await boot(this.provisioned, signal);
    return this.booted;
  }

  /** The booted sandbox. */
  get sandbox(): Sandbox {
    if (!this.booted) throw new SandboxError("EBOOT", `sandbox ${this.id} is not booted`);
    return this.booted;
  }

  /** The newest record: the store's, else the one this lease saw; undefined when none was made. */
  record(): SandboxRecord | undefined {
    return this.store?.read(this.id) ?? this.booted?.record ?? this.provisioned;
  }

  /**
   * Destroys everything the newest record names; a booted sandbox's process is also waited for
   * (destroySandbox), so none is left for init to reap. Once: later calls get the same promise.
   */
  release(): Promise<void> {
    this.released ??= this.destroy();
    return this.released;
  }

  private async destroy(): Promise<void> {
    const record = this.record();
    if (!record) return;
    if (this.booted) await destroySandbox(this.driver, this.booted, record);
    else await this.driver.destroy(record);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
