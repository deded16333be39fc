// The effects behind machines/vm.machine.ts: each actor the machine names, implemented over
// a SandboxDriver. Cancellation is XState's: stopping an invoked actor aborts its signal (or
// runs its callback cleanup), which kills the process being booted or the job being run.
import { fromCallback, fromPromise, type EventObject } from "xstate";
import type { ExecJob, RecordHandle, SandboxHandle, TeardownReport, VmEvent, VmLimits } from "../../machines/vm.machine.ts";
import { oomKilled, pidsExhausted } from "./cgroup.ts";
import type { BackendName } from "../../core/backend.ts";
import type { Sandbox, SandboxDriver, SandboxRecord } from "./sandbox-driver.ts";
import { destroySandbox } from "./sandbox-driver.ts";
import type { SandboxStore } from "./sandbox-store.ts";
import { GuestError, SandboxError } from "../../core/errors.ts";
import { GUEST_ENV } from "../../guest-agent/guest-protocol.ts";

export type DriverRegistry = Partial<Record<BackendName, SandboxDriver>>;

const asRecord = (h: RecordHandle) => h as unknown as SandboxRecord;
const asSandbox = (h: SandboxHandle) => h as unknown as Sandbox;

function driverFor(drivers: DriverRegistry, backend: string): SandboxDriver {
  const driver = drivers[backend as BackendName];
  if (!driver) throw new SandboxError("EBACKEND", `no driver for backend "${backend}"`);
  return driver;
}

export function vmActors(drivers: DriverRegistry, store: SandboxStore) {
  return {
    provision: fromPromise<RecordHandle, { id: string; backend: string; limits: VmLimits }>(async ({ input, signal }) => {
      const driver = driverFor(drivers, input.backend);
      const record = await driver.provision({ id: input.id, backend: driver.backend, limits: input.limits }, signal);
      return record as unknown as RecordHandle;
    }),

    boot: fromPromise<SandboxHandle, { record: RecordHandle }>(async ({ input, signal }) => {
      const record = asRecord(input.record);
      const sandbox = await driverFor(drivers, record.backend).boot(record, signal);
      return sandbox as unknown as SandboxHandle;
    }),

    watch: fromCallback<EventObject, { sandbox: SandboxHandle }>(({ input, sendBack }) => {
      let watching = true;
      void asSandbox(input.sandbox).exited.then((exit) => {
        if (watching) sendBack({ type: "SANDBOX.EXITED", code: exit.code, signal: exit.signal } satisfies VmEvent);
      });
      return () => {
        watching = false;
      };
    }),

    execute: fromCallback<EventObject, { sandbox: SandboxHandle; job: ExecJob }>(({ input, sendBack }) => {
      const sandbox = asSandbox(input.sandbox);
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
      const sandbox = asSandbox(input.sandbox);
      await sandbox.channel.shutdown().catch(() => {});
      await sandbox.exited;
    }),

    teardown: fromPromise<TeardownReport, { id: string; record: RecordHandle | null; sandbox: SandboxHandle | null }>(async ({ input }) => {
      // The store holds the newest record (boot adds the pid); fall back to what the machine saw.
      const record = store.read(input.id) ?? (input.sandbox ? asSandbox(input.sandbox).record : input.record ? asRecord(input.record) : undefined);
      if (!record) return { oomKilled: false, pidsExhausted: false };
      // Read the limits' counters before the cgroup is removed: they explain a sandbox that died.
      const report = {
        oomKilled: record.cgroup ? await oomKilled(record.cgroup) : false,
        pidsExhausted: record.cgroup ? await pidsExhausted(record.cgroup) : false,
      };
      const driver = driverFor(drivers, record.backend);
      if (input.sandbox) await destroySandbox(driver, asSandbox(input.sandbox), record);
      else await driver.destroy(record);
      return report;
    }),
  };
}
