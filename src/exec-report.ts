// What a finished job means to the person who ran it: an exit code (docs/cli.md) and, when
// the command's own output does not say it, one line of explanation.
import type { JobOutcome } from "./exec-job.ts";
import { ExitCode } from "../core/exit-codes.ts";
import { signalExitCode } from "./process-guard.ts";

export interface ReportContext {
  readonly timeoutSecs: number;
  readonly memoryMiB: number;
  readonly pidsMax: number;
  readonly interrupted: NodeJS.Signals | null;
}

export interface Report {
  readonly exitCode: number;
  /** The reason, when there is one to give. */
  readonly message: string | null;
  /** Said in addition, whatever the exit code (output truncation). */
  readonly notice: string | null;
}

export function reportOutcome(outcome: JobOutcome | null, ctx: ReportContext): Report {
  const r = outcome?.result ?? null;
  const f = outcome?.failure ?? null;
  const c = outcome?.commandError ?? null;
  const notice = r?.truncated ? `output cut after ${r.outputBytes} bytes (raise with --output-cap)` : null;
  if (ctx.interrupted) return { exitCode: signalExitCode(ctx.interrupted), message: `interrupted by ${ctx.interrupted}; the sandbox was destroyed`, notice };
  if (r) {
    if (r.timedOut) return { exitCode: ExitCode.timeout, message: `command timed out after ${ctx.timeoutSecs} s and was killed`, notice };
    if (r.signal === "SIGPIPE" && r.truncated) return { exitCode: signalExitCode(r.signal), message: null, notice };
    if (r.signal) {
      const message = r.oomKilled
        ? `command was killed: the sandbox reached its memory limit of ${ctx.memoryMiB} MiB (raise it with --memory)`
        : `command was killed by ${r.signal}`;
      return { exitCode: signalExitCode(r.signal as NodeJS.Signals), message, notice };
    }
    return { exitCode: r.code ?? ExitCode.sandboxFailure, message: null, notice };
  }
  if (c && !f) return { exitCode: c.code === "ENOENT" ? ExitCode.notFound : ExitCode.notExecutable, message: c.message, notice };
  if (f) {
    let message = `sandbox failed (${f.stage}): ${f.message}`;
    if (outcome?.oomAtTeardown) message += `; the sandbox reached its memory limit of ${ctx.memoryMiB} MiB (--memory)`;
    if (outcome?.pidsAtTeardown) message += `; the sandbox reached its limit of ${ctx.pidsMax} processes (--pids)`;
    return { exitCode: ExitCode.sandboxFailure, message, notice };
  }
  return { exitCode: ExitCode.sandboxFailure, message: "the sandbox ended without running the command", notice };
}

/** `exec --json`: one object with everything a script needs about the run. */
export function resultJson(run: {
  path: "in-process" | "daemon";
  backend: string;
  passedOver: readonly { backend: string; reason: string }[];
  limits: string;
  outcome: JobOutcome;
  exitCode: number;
  message: string | null;
  started: number;
  stdout: Buffer[];
  stderr: Buffer[];
}) {
  const r = run.outcome.result;
  return {
    path: run.path,
    leased: run.outcome.leased,
    sandbox: run.outcome.sandbox,
    backend: run.backend,
    // The stronger backends not chosen (only when none was named), and why.
    passedOver: run.passedOver,
    isolation: run.outcome.isolation,
    limits: run.limits,
    exitCode: run.exitCode,
    code: r?.code ?? null,
    signal: r?.signal ?? null,
    timedOut: r?.timedOut ?? false,
    truncated: r?.truncated ?? false,
    oomKilled: r?.oomKilled ?? run.outcome.oomAtTeardown,
    durationMs: Math.round(performance.now() - run.started),
    stdout: Buffer.concat(run.stdout).toString("utf8"),
    stderr: Buffer.concat(run.stderr).toString("utf8"),
    error: run.message,
  };
}
