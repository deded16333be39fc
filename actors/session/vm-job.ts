// One command on a running vm actor, the way the vm machine runs it: EXEC in, streamed
// output and one exit (or error) out. A session's `exec` tool goes through here rather than to
// the guest channel directly, so the sandbox's statechart is busy while a command runs — the
// inspector shows it, its exec deadline bounds it, and a fatal failure tears it down.
import type { ActorRefFrom, AnyActorRef } from "xstate";
import type { ExecJob, ExecResult, VmEmitted, vmMachine } from "../../machines/vm.machine.ts";
import { VmJobError } from "../../core/errors.ts";

export function execOnVm(ref: AnyActorRef, job: ExecJob, onOutput: (stream: "stdout" | "stderr", data: Buffer) => void): Promise<ExecResult> {
  const vm = ref as ActorRefFrom<typeof vmMachine>;
  return new Promise((resolve, reject) => {
    const snapshot = vm.getSnapshot();
    if (snapshot.status !== "active" || !snapshot.matches({ running: "ready" })) {
      reject(new VmJobError("ENOTREADY", `the sandbox is not ready for a command (${JSON.stringify(snapshot.value)})`));
      return;
    }
    const subscriptions = [
      vm.on("exec.output", (e: Extract<VmEmitted, { type: "exec.output" }>) => onOutput(e.stream, Buffer.from(e.data, "base64"))),
      vm.on("exec.exit", (e: Extract<VmEmitted, { type: "exec.exit" }>) => settle(() => resolve(e.result))),
      vm.on("exec.error", (e: Extract<VmEmitted, { type: "exec.error" }>) => settle(() => reject(new VmJobError(e.code, e.message)))),
      vm.subscribe({
        complete: () => settle(() => reject(new VmJobError("ESANDBOX", "the sandbox ended while the command ran"))),
        error: (err) => settle(() => reject(new VmJobError("ESANDBOX", `the sandbox failed while the command ran: ${(err as Error).message}`))),
      }),
    ];
    let settled = false;
    function settle(f: () => void) {
      if (settled) return;
      settled = true;
      for (const s of subscriptions) s.unsubscribe();
      f();
    }
    vm.send({ type: "EXEC", job });
  });
}
