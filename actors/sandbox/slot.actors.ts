// The effects behind machines/snapshot-slot.machine.ts for every backend: `prepare` makes a
// sandbox ready to serve (for the namespace and gVisor backends, provisioned and booted, its
// guest agent waiting; VM backends restore a snapshot here), `discard` destroys one — by its
// handle (the lease it was prepared under), or by the id it was made under when a prepare
// failed half-way. A leased sandbox's handle goes to the task's vm, which releases it.
import { fromCallback, fromPromise, type EventObject } from "xstate";
import type { SlotEvent } from "../../machines/snapshot-slot.machine.ts";
import type { BootedSandbox, SandboxHandle, VmLimits } from "../../machines/vm.machine.ts";
import type { SandboxStore } from "./sandbox-store.ts";
import { SandboxLease } from "./sandbox-lease.ts";
import { bootedSandbox, leaseOf, sandboxOf } from "./sandbox-handle.ts";
import { driverFor, type DriverRegistry } from "./vm.actors.ts";

export function slotActors(drivers: DriverRegistry, store: SandboxStore) {
  return {
    prepare: fromPromise<BootedSandbox, { sandboxId: string; backend: string; limits: VmLimits }>(async ({ input, signal }) => {
      const driver = driverFor(drivers, input.backend);
      // A VM backend makes (once) the snapshot that this and every later prepare restores.
      await driver.warm?.(input.limits, signal);
      const lease = new SandboxLease(driver, input.sandboxId, store);
      await lease.provision({ limits: input.limits }, signal);
      try {
        await lease.boot(signal);
      } catch (err) {
        await lease.release();
        throw err;
      }
      return bootedSandbox(lease);
    }),

    watch: fromCallback<EventObject, { sandbox: SandboxHandle }>(({ input, sendBack }) => {
      let watching = true;
      void sandboxOf(input.sandbox).exited.then((exit) => {
        if (watching) sendBack({ type: "SANDBOX.EXITED", code: exit.code, signal: exit.signal } satisfies SlotEvent);
      });
      return () => {
        watching = false;
      };
    }),

    discard: fromPromise<void, { sandbox: SandboxHandle | null; sandboxId: string }>(async ({ input }) => {
      const lease = input.sandbox ? leaseOf(input.sandbox) : SandboxLease.recorded(store, input.sandboxId, (backend) => driverFor(drivers, backend));
      await lease?.release();
    }),
  };
}
