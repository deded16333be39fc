// The effects behind machines/vm.machine.ts: each actor the machine names, implemented over
// a SandboxDriver. Cancellation is XState's: stopping an invoked actor aborts its signal (or
// runs its callback cleanup), which kills the process being booted or the job being run. The
// sandbox is a SandboxLease from provision to teardown, which releases it: the machine holds
// it as a handle (the record handle, then the sandbox handle), an adopted one included.
import { fromCallback, fromPromise, type EventObject } from "xstate";
import type { BootedSandbox, ExecJob, RecordHandle, SandboxHandle, TeardownReport, VmEvent, VmLimits } from "../../machines/vm.machine.ts";
import { oomKilled, pidsExhausted } from "./cgroup.ts";
import type { BackendName } from "../../core/backend.ts";
import type { SandboxDriver } from "./sandbox-driver.ts";
import type { SandboxStore } from "./sandbox-store.ts";
import { SandboxLease } from "./sandbox-lease.ts";
import { bootedSandbox, leaseOf, recordHandle, sandboxOf } from "./sandbox-handle.ts";
import { GuestError, SandboxError } from "../../core/errors.ts";
import { GUEST_ENV } from "../../guest-agent/guest-protocol.ts";

export type DriverRegistry = Partial<Record<BackendName, SandboxDriver>>;

/** The registry's driver for `backend`; EBACKEND when it has none. */
export function driverFor(drivers: DriverRegistry, backend: string): SandboxDriver {
  const driver = drivers[backend as BackendName];
  if (!driver) throw new SandboxError("EBACKEND", `no driver for backend "${backend}"`);
  return driver;
}

export function vmActors(drivers: DriverRegistry, store: SandboxStore) {
  return {
    provision: fromPromise<RecordHandle, { id: string; backend: string; limits: VmLimits }>(async ({ input, signal }) => {
      const lease = new SandboxLease(driverFor(drivers, input.backend), input.id, store);
      await lease.provision({ limits: input.limits }, signal);
      return recordHandle(lease);
    }),

    boot: fromPromise<BootedSandbox, { record: RecordHandle }>(async ({ input, signal }) => {
      const lease = leaseOf(input.record);
      await lease.boot(signal);
      return bootedSandbox(lease);
    }),

    watch: fromCallback<EventObject, { sandbox: SandboxHandle }>(({ input, sendBack }) => {
      let watching = true;
      void sandboxOf(input.sandbox).exited.then((exit) => {
        if (watching) sendBack({ type: "SANDBOX.EXITED", code: exit.code, signal: exit.signal } satisfies VmEvent);
      });
      return () => {
        watching = false;
      };
    }),

    execute: fromCallback<EventObject, { sandbox: SandboxHandle; job: ExecJob }>(({ input, sendBack }) => {
      const sandbox = sandboxOf(input.sandbox);
      const { job } = input;
      const cancel = new AbortController();
      let live = true;
      const send = (event: VmEvent) => live && sendBack(event);
      sandbox.channel
        // The job as it came (stdin and output stay base64); a job's env is laid over the guest's
        // default here, the one place it is applied, so a command given -e still finds its PATH.
        .execEncoded({ ...job, ...(job.env && { env: { ...GUEST_ENV, ...job.env } }) }, (stream, data) => send({ type: "EXEC.OUTPUT", stream, data }), cancel.signal)
        .then(async (exit) => {
          const cgroup = sandbox.record.cgroup;
          const oom = exit.signal === "SIGKILL" && cgroup !== null && (await oomKilled(cgroup));
          send({ type: "EXEC.EXITED", result: { ...exit, oomKilled: oom } });
        })
        .catch((err: unknown) => {
          const code = err instanceof GuestError ? err.code : "EFAILED";
          send({ type: "EXEC.FAILED", code, message: (err as Error).message, fatal: sandbox.channel.closed });
        });
      return () => {
        live = false;
        cancel.abort();
      };
    }),

    shutdown: fromPromise<void, { sandbox: SandboxHandle }>(async ({ input }) => {
      const sandbox = sandboxOf(input.sandbox);
      await sandbox.channel.shutdown().catch(() => {});
      await sandbox.exited;
    }),

    teardown: fromPromise<TeardownReport, { id: string; record: RecordHandle | null; sandbox: SandboxHandle | null }>(async ({ input }) => {
      // Without a handle (the provision failed), whatever the store records under the vm's id.
      const handle = input.sandbox ?? input.record;
      const lease = handle ? leaseOf(handle) : SandboxLease.recorded(store, input.id, (backend) => driverFor(drivers, backend));
      const record = lease?.record();
      if (!lease || !record) return { oomKilled: false, pidsExhausted: false };
      // Read the limits' counters before the cgroup is removed: they explain a sandbox that died.
      const report = {
        oomKilled: record.cgroup ? await oomKilled(record.cgroup) : false,
        pidsExhausted: record.cgroup ? await pidsExhausted(record.cgroup) : false,
      };
      await lease.release();
      return report;
    }),
  };
}
