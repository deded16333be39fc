// `ironclaw exec` without a daemon: the sandbox is a child of an orchestrator in this process,
// so Ctrl-C, SIGTERM and crashes all take the same road out: orchestrator shutdown → vm STOP →
// teardown.
import { safeJson } from "../../core/terminal-text.ts";
import { GUEST_ENV } from "../../guest-agent/guest-protocol.ts";
import { detectCgroups } from "../../actors/sandbox/cgroup.ts";
import { selectBackend } from "../backend-select.ts";
import { createInspectionSource } from "../inspector/inspection-source.ts";
import { attachInspector } from "../inspector/inspector-attach.ts";
import { readStdin, say } from "./cli-io.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import { createLogger, logFile } from "../logger.ts";
import { runJob } from "../exec-job.ts";
import { reportOutcome, resultJson } from "../exec-report.ts";
import { guardProcess } from "../process-guard.ts";
import { createRuntime } from "../runtime.ts";
import type { ExecOptions } from "./exec.command.ts";
import { UsageError } from "../../core/errors.ts";

export async function execInProcess(command: string[], opts: ExecOptions): Promise<number> {
  const logger = await createLogger({ verbose: opts.verbose });
  const source = opts.inspect ? createInspectionSource({ pid: process.pid, command: "exec", cwd: process.cwd() }) : null;
  const runtime = createRuntime({ logger, ...(source && { inspect: source.inspect }) });
  const { orchestrator } = runtime;

  const guard = guardProcess(runtime, logger, {
    onSignal: "orchestrated",
    onCrash: (err) => say(`internal error: ${err.message} (see ${logFile()}); destroying the sandbox`),
  });

  await runtime.reapLeftovers();
  let driver;
  try {
    driver = await selectBackend(opts.backend, runtime.drivers);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    say((err as Error).message);
    return ExitCode.sandboxFailure;
  }
  const cgroups = await detectCgroups();
  // Limits the user asked for are enforced or the command does not run; defaults only warn.
  const refusal =
    !cgroups.usable && opts.limitsExplicit
      ? `cannot enforce --memory/--pids here: ${cgroups.detail}`
      : !cgroups.cpu.usable && opts.cpusExplicit
        ? `cannot enforce --cpus here: ${cgroups.cpu.detail}`
        : null;
  if (refusal) {
    say(refusal);
    return ExitCode.sandboxFailure;
  }
  if (!opts.json && !cgroups.usable) say(`warning: the sandbox runs without memory and process limits: ${cgroups.detail}`);
  else if (!opts.json && !cgroups.cpu.usable) say(`warning: the sandbox runs without a CPU limit: ${cgroups.cpu.detail}`);
  const stdin = opts.stdin ? await readStdin() : undefined;

  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const started = performance.now();
  orchestrator.start();
  const inspector = source ? await attachInspector(source) : null;
  if (inspector) say(`inspector: ${inspector.url}`);
  const outcome = await runJob(
    runtime,
    {
      backend: driver.backend,
      limits: { memoryMiB: opts.memory, pidsMax: opts.pids, cpus: opts.cpus },
      job: {
        argv: command,
        cwd: opts.cwd,
        timeoutMs: Math.round(opts.timeout * 1000),
        ...(opts.env && { env: { ...GUEST_ENV, ...opts.env } }),
        ...(stdin && { stdin: stdin.toString("base64") }),
        ...(opts.outputCap !== undefined && { outputCapBytes: opts.outputCap }),
      },
    },
    {
      onReady: (id, isolation) => {
        logger.info({ id, isolation }, "sandbox ready");
        if (!opts.json && process.stderr.isTTY) say(`sandbox ${id}: ${isolation}`);
      },
      onOutput: (stream, data) => {
        if (opts.json) (stream === "stdout" ? stdout : stderr).push(data);
        else (stream === "stdout" ? process.stdout : process.stderr).write(data);
      },
    },
  );
  orchestrator.send({ type: "SHUTDOWN", reason: "command finished" });
  let stoppedWith;
  try {
    stoppedWith = await runtime.stopped;
  } finally {
    await inspector?.close(); // after the stop: a watching tab sees the sandbox destroyed
  }
  logger.info({ output: stoppedWith, outcome }, "orchestrator stopped");

  const { exitCode, message, notice } = reportOutcome(outcome, {
    timeoutSecs: opts.timeout,
    memoryMiB: opts.memory,
    pidsMax: opts.pids,
    interrupted: guard.interruptedBy(),
  });
  if (notice) say(notice);
  if (stoppedWith.forced.length) say(`warning: teardown of ${stoppedWith.forced.join(", ")} timed out; it was killed and reaped`);
  if (opts.json) {
    const limits = cgroups.usable ? cgroups.detail : `none: ${cgroups.detail}`;
    const result = resultJson({ path: "in-process", backend: driver.backend, limits, outcome, exitCode, message, started, stdout, stderr });
    process.stdout.write(`${safeJson(result)}\n`);
  } else if (message) {
    say(message);
  }
  return exitCode;
}
