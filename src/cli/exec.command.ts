// `ironclaw exec`: one command, one fresh sandbox, then nothing left. The sandbox is a child
// of an in-process orchestrator, so Ctrl-C, SIGTERM and crashes all take the same road out:
// orchestrator shutdown → vm STOP → teardown.
import { nanoid } from "nanoid";
import type { ActorRefFrom } from "xstate";
import type { ExecResult, VmFailure, VmOutput, VmEmitted, vmMachine } from "../../machines/vm.machine.ts";
import { GUEST_ENV, MAX_FILE_BYTES } from "../../guest-agent/guest-protocol.ts";
import { detectCgroups } from "../../actors/cgroup.ts";
import { selectBackend } from "../backend-select.ts";
import { ExitCode, UsageError } from "../exit-codes.ts";
import { createLogger, logFile } from "../logger.ts";
import { guardProcess, signalExitCode } from "../process-guard.ts";
import { createRuntime } from "../runtime.ts";

export interface ExecCliOptions {
  readonly backend?: string;
  readonly timeout: number;
  readonly memory: number;
  readonly pids: number;
  readonly env?: Record<string, string>;
  readonly cwd: string;
  readonly stdin: boolean;
  readonly outputCap?: number;
  readonly json: boolean;
  readonly verbose: boolean;
  /** --memory or --pids was given: refuse to run where they cannot be enforced. */
  readonly limitsExplicit?: boolean;
}

const say = (line: string) => process.stderr.write(`ironclaw: ${line}\n`);

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_FILE_BYTES) throw new UsageError(`--stdin takes at most ${MAX_FILE_BYTES} bytes; pass larger input as a file`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function runExec(command: string[], opts: ExecCliOptions): Promise<number> {
  if (command.length === 0) throw new UsageError("exec needs a command: ironclaw exec -- CMD [ARGS...]");
  const logger = await createLogger({ verbose: opts.verbose });
  const runtime = createRuntime({ logger });
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
  if (!cgroups.usable) {
    if (opts.limitsExplicit) {
      say(`cannot enforce --memory/--pids here: ${cgroups.detail}`);
      return ExitCode.sandboxFailure;
    }
    if (!opts.json) say(`warning: the sandbox runs without memory and process limits: ${cgroups.detail}`);
  }
  const stdin = opts.stdin ? await readStdin() : undefined;

  const id = `x${nanoid(11).replace(/[^A-Za-z0-9]/g, "0")}`;
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let result: ExecResult | null = null;
  let commandError: { code: string; message: string } | null = null;
  let failure: VmFailure | null = null;
  let oomAtTeardown = false;
  let pidsAtTeardown = false;
  let isolation = "";
  const started = performance.now();

  orchestrator.on("child.exited", (e) => {
    if (e.id !== id) return;
    const output = e.output as VmOutput | null;
    if (output?.outcome === "failed") failure = output.failure;
    else if (e.abnormal) failure = { stage: "ready", code: "ECRASH", message: e.error ?? "sandbox actor crashed" };
    oomAtTeardown = output?.teardown?.oomKilled ?? false;
    pidsAtTeardown = output?.teardown?.pidsExhausted ?? false;
    orchestrator.send({ type: "SHUTDOWN", reason: "sandbox ended" });
  });
  orchestrator.start();
  orchestrator.send({
    type: "SPAWN",
    child: {
      id,
      src: "vm",
      restart: "temporary",
      input: { id, backend: driver.backend, limits: { memoryMiB: opts.memory, pidsMax: opts.pids } },
    },
  });

  const vm = orchestrator.getSnapshot().children[id] as ActorRefFrom<typeof vmMachine> | undefined;
  if (vm) {
    vm.on("exec.output", (e: Extract<VmEmitted, { type: "exec.output" }>) => {
      const data = Buffer.from(e.data, "base64");
      if (opts.json) (e.stream === "stdout" ? stdout : stderr).push(data);
      else (e.stream === "stdout" ? process.stdout : process.stderr).write(data);
    });
    vm.on("exec.exit", (e: Extract<VmEmitted, { type: "exec.exit" }>) => {
      result = e.result;
      orchestrator.send({ type: "SHUTDOWN", reason: "command finished" });
    });
    vm.on("exec.error", (e: Extract<VmEmitted, { type: "exec.error" }>) => {
      commandError = { code: e.code, message: e.message };
      orchestrator.send({ type: "SHUTDOWN", reason: "command failed" });
    });
    let sent = false;
    vm.subscribe((snapshot) => {
      if (sent || !snapshot.matches({ running: "ready" })) return;
      sent = true;
      isolation = (snapshot.context.sandbox as unknown as { isolation: string }).isolation;
      logger.info({ id, isolation }, "sandbox ready");
      if (!opts.json && process.stderr.isTTY) say(`sandbox ${id}: ${isolation}`);
      vm.send({
        type: "EXEC",
        job: {
          argv: command,
          cwd: opts.cwd,
          timeoutMs: Math.round(opts.timeout * 1000),
          ...(opts.env && { env: { ...GUEST_ENV, ...opts.env } }),
          ...(stdin && { stdin: stdin.toString("base64") }),
          ...(opts.outputCap !== undefined && { outputCapBytes: opts.outputCap }),
        },
      });
    });
  }

  const stoppedWith = await runtime.stopped;
  logger.info({ output: stoppedWith }, "orchestrator stopped");
  return report();

  function report(): number {
    const r = result as ExecResult | null;
    const f = failure as VmFailure | null;
    const c = commandError as { code: string; message: string } | null;
    let exitCode: number;
    let message: string | null = null;
    const interrupted = guard.interruptedBy();
    if (interrupted) {
      exitCode = signalExitCode(interrupted);
      message = `interrupted by ${interrupted}; the sandbox was destroyed`;
    } else if (r) {
      if (r.timedOut) {
        exitCode = ExitCode.timeout;
        message = `command timed out after ${opts.timeout} s and was killed`;
      } else if (r.signal === "SIGPIPE" && r.truncated) {
        exitCode = signalExitCode(r.signal);
      } else if (r.signal) {
        exitCode = signalExitCode(r.signal as NodeJS.Signals);
        message = r.oomKilled
          ? `command was killed: the sandbox reached its memory limit of ${opts.memory} MiB (raise it with --memory)`
          : `command was killed by ${r.signal}`;
      } else {
        exitCode = r.code ?? ExitCode.sandboxFailure;
      }
      if (r.truncated) say(`output cut after ${r.outputBytes} bytes (raise with --output-cap)`);
    } else if (c && !f) {
      exitCode = c.code === "ENOENT" ? ExitCode.notFound : ExitCode.notExecutable;
      message = c.message;
    } else if (f) {
      exitCode = ExitCode.sandboxFailure;
      message = `sandbox failed (${f.stage}): ${f.message}`;
      if (oomAtTeardown) message += `; the sandbox reached its memory limit of ${opts.memory} MiB (--memory)`;
      if (pidsAtTeardown) message += `; the sandbox reached its limit of ${opts.pids} processes (--pids)`;
    } else {
      exitCode = ExitCode.sandboxFailure;
      message = "the sandbox ended without running the command";
    }
    if (stoppedWith.forced.length) say(`warning: teardown of ${stoppedWith.forced.join(", ")} timed out; it was killed and reaped`);
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify({
          sandbox: id,
          backend: driver!.backend,
          isolation,
          limits: cgroups.usable ? cgroups.detail : `none: ${cgroups.detail}`,
          exitCode,
          code: r?.code ?? null,
          signal: r?.signal ?? null,
          timedOut: r?.timedOut ?? false,
          truncated: r?.truncated ?? false,
          oomKilled: r?.oomKilled ?? oomAtTeardown,
          durationMs: Math.round(performance.now() - started),
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8"),
          error: message,
        })}\n`,
      );
    } else if (message) {
      say(message);
    }
    return exitCode;
  }
}
