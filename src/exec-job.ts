// One command in one sandbox, as a vm child of the orchestrator: spawn it (cold, or adopting a
// leased sandbox), run the job when it is ready, stop it when the job is over, and report what
// happened. Used by `ironclaw exec` in process and by the daemon alike.
import { nanoid } from "nanoid";
import type { ActorRefFrom } from "xstate";
import type { OrchestratorEmitted } from "../machines/orchestrator.machine.ts";
import type { BootedSandbox, ExecJob, ExecResult, VmEmitted, VmFailure, VmLimits, VmOutput, vmMachine } from "../machines/vm.machine.ts";
import type { Runtime } from "./runtime.ts";
import type { Stream } from "../core/exec.ts";
import type { JobOutcome } from "./service/ironclaw-service.ts";

export type { JobOutcome };

export interface JobSpec {
  readonly backend: string;
  readonly limits: VmLimits;
  readonly job: ExecJob;
  /** A sandbox leased from the pool; absent, the vm boots one cold. */
  readonly sandbox?: BootedSandbox;
}

export interface JobListener {
  onReady?(sandbox: string, isolation: string): void;
  /** Output in base64, as the guest sent it. */
  onOutput?(stream: Stream, data: string): void;
}

export const newSandboxId = () => `x${nanoid(11).replace(/[^A-Za-z0-9]/g, "0")}`;

/** Resolves when the vm has been torn down, whatever happened. Aborting stops the vm (and so the job). */
export function runJob(runtime: Runtime, spec: JobSpec, listener: JobListener = {}, signal?: AbortSignal): Promise<JobOutcome> {
  const { orchestrator } = runtime;
  const id = newSandboxId();
  let isolation = "";
  let result: ExecResult | null = null;
  let commandError: JobOutcome["commandError"] = null;

  return new Promise<JobOutcome>((resolve) => {
    const exited = orchestrator.on("child.exited", (e: Extract<OrchestratorEmitted, { type: "child.exited" }>) => {
      if (e.id !== id) return;
      exited.unsubscribe();
      const output = e.output as VmOutput | null;
      const failure: VmFailure | null =
        output?.outcome === "failed" ? output.failure : e.abnormal ? { stage: "ready", code: "ECRASH", message: e.error ?? "sandbox actor crashed" } : null;
      resolve({
        sandbox: id,
        isolation,
        leased: spec.sandbox !== undefined,
        result,
        commandError,
        failure,
        oomAtTeardown: output?.teardown?.oomKilled ?? false,
        pidsAtTeardown: output?.teardown?.pidsExhausted ?? false,
      });
    });

    orchestrator.send({
      type: "SPAWN",
      child: { id, src: "vm", restart: "temporary", input: { id, backend: spec.backend, limits: spec.limits, ...(spec.sandbox && { sandbox: spec.sandbox }) } },
    });
    // Safe to look now: an event sent to an actor that is not mid-transition is processed before
    // send() returns (XState v5 runs its mailbox at once), and runJob is only ever called from
    // outside the orchestrator's own transitions (a command, a socket callback), never from one
    // of its listeners, where the event would be queued instead. So the child is there, or the
    // SPAWN was refused: the orchestrator is shutting down (the id is fresh, so never in use).
    const vm = orchestrator.getSnapshot().children[id] as ActorRefFrom<typeof vmMachine> | undefined;
    if (!vm) {
      // The orchestrator is shutting down and refused the child: nothing was started.
      exited.unsubscribe();
      const failure: VmFailure = { stage: "provision", code: "ESHUTDOWN", message: "IronClaw is shutting down" };
      return resolve({ sandbox: id, isolation, leased: false, result, commandError, failure, oomAtTeardown: false, pidsAtTeardown: false });
    }
    const stop = () => vm.send({ type: "STOP" });
    signal?.addEventListener("abort", stop, { once: true });
    if (signal?.aborted) stop();

    vm.on("exec.output", (e: Extract<VmEmitted, { type: "exec.output" }>) => listener.onOutput?.(e.stream, e.data));
    vm.on("exec.exit", (e: Extract<VmEmitted, { type: "exec.exit" }>) => {
      result = e.result;
      stop();
    });
    vm.on("exec.error", (e: Extract<VmEmitted, { type: "exec.error" }>) => {
      commandError = { code: e.code, message: e.message };
      stop();
    });
    let sent = false;
    const startWhenReady = (snapshot: ReturnType<typeof vm.getSnapshot>) => {
      if (sent || !snapshot.matches({ running: "ready" })) return;
      sent = true;
      isolation = snapshot.context.isolation ?? "";
      listener.onReady?.(id, isolation);
      vm.send({ type: "EXEC", job: spec.job });
    };
    vm.subscribe(startWhenReady);
    // An adopted sandbox is ready the moment the vm is spawned: no later snapshot will say so.
    startWhenReady(vm.getSnapshot());
  });
}
