// The effects behind machines/snapshot-slot.machine.ts for every backend: `prepare` makes a
// sandbox ready to serve (for the namespace and gVisor backends, provisioned and booted, its
// guest agent waiting; VM backends restore a snapshot here), `discard` destroys one — by its
// handle, or by the id it was made under when a prepare failed half-way.
import { fromCallback, fromPromise, type EventObject } from "xstate";
import type { SlotEvent } from "../../machines/snapshot-slot.machine.ts";
import type { SandboxHandle, VmLimits } from "../../machines/vm.machine.ts";
import type { BackendName } from "../../core/backend.ts";
import type { Sandbox, SandboxRecord } from "./sandbox-driver.ts";
import { destroySandbox } from "./sandbox-driver.ts";
import type { SandboxStore } from "./sandbox-store.ts";
import type { DriverRegistry } from "./vm.actors.ts";
import { SandboxError } from "../../core/errors.ts";

export function slotActors(drivers: DriverRegistry, store: SandboxStore) {
  const driverFor = (backend: string) => {
    const driver = drivers[backend as BackendName];
    if (!driver) throw new SandboxError("EBACKEND", `no driver for backend "${backend}"`);
    return driver;
  };
  return {
    prepare: fromPromise<SandboxHandle, { sandboxId: string; backend: string; limits: VmLimits }>(async ({ input, signal }) => {
      const driver = driverFor(input.backend);
      // A VM backend makes (once) the snapshot that this and every later prepare restores.
      await driver.warm?.(input.limits, signal);
      const record = await driver.provision({ id: input.sandboxId, backend: driver.backend, limits: input.limits }, signal);
      try {
        return (await driver.boot(record, signal)) as unknown as SandboxHandle;
      } catch (err) {
        await driver.destroy(record);
        throw err;
      }
    }),

    watch: fromCallback<EventObject, { sandbox: SandboxHandle }>(({ input, sendBack }) => {
      let watching = true;
      void (input.sandbox as unknown as Sandbox).exited.then((exit) => {
        if (watching) sendBack({ type: "SANDBOX.EXITED", code: exit.code, signal: exit.signal } satisfies SlotEvent);
      });
      return () => {
        watching = false;
      };
    }),

    discard: fromPromise<void, { sandbox: SandboxHandle | null; sandboxId: string }>(async ({ input }) => {
      const sandbox = input.sandbox as unknown as Sandbox | null;
      const record: SandboxRecord | undefined = store.read(input.sandboxId) ?? sandbox?.record;
      if (!record) return;
      if (sandbox) await destroySandbox(driverFor(record.backend), sandbox, record);
      else await driverFor(record.backend).destroy(record);
    }),
  };
}
