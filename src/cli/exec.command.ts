// `ironclaw exec`: one command, one fresh sandbox, then nothing left — through the daemon when
// one is up, else under an orchestrator in this process (withRuntime); the same code either way,
// against IronclawService. The runtime is loaded only for the second: a daemon client needs
// none of it. Ctrl-C, SIGTERM and crashes all take the same road out: the sandbox's vm is
// stopped and torn down (in process by the orchestrator's shutdown; through the daemon by
// closing the connection, which makes the daemon do it).
import { safeJson } from "../../core/terminal-text.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import { UsageError } from "../../core/errors.ts";
import { DaemonClient } from "../daemon/daemon-client.ts";
import { reportOutcome, resultJson } from "../exec-report.ts";
import type { ExecReport, ExecSpec, IronclawService } from "../service/ironclaw-service.ts";
import { readStdin, say } from "./cli-io.ts";
import { chooseCpus } from "./cpus-choice.ts";

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
  /** --cpus as given; absent: the setting sandbox.cpus. */
  readonly cpus?: number;
  /** false with --no-daemon. */
  readonly daemon?: boolean;
  /** Show the sandbox's actors in the inspector (the daemon's, or this process's). */
  readonly inspect?: boolean;
}

/** What a run left to report: the service's report (none if it refused), or why it failed. */
interface Run {
  readonly report: ExecReport | null;
  readonly failure: string | null;
  readonly started: number;
  readonly stdout: Buffer[];
  readonly stderr: Buffer[];
}

export async function runExec(command: string[], cli: ExecCliOptions): Promise<number> {
  if (command.length === 0) throw new UsageError("exec needs a command: ironclaw exec -- CMD [ARGS...]");
  // The guest protocol takes no empty argument: said here, once, before anything starts (it was a
  // protocol error from the guest in process and from the daemon's decoder through it).
  const empty = command.indexOf("");
  if (empty >= 0)
    throw new UsageError(
      `argument ${empty + 1} of the command is empty, and a sandbox's command cannot take an empty argument yet: leave it out or pass it through a shell (sh -c '…')`,
    );
  const { cpus, explicit } = chooseCpus(cli.cpus);
  const daemon = cli.daemon !== false ? await DaemonClient.connect() : null;
  const stdin = cli.stdin ? await readStdin() : undefined;
  const spec: ExecSpec = {
    ...(cli.backend !== undefined && { backend: cli.backend }),
    job: {
      argv: command,
      cwd: cli.cwd,
      timeoutMs: Math.round(cli.timeout * 1000),
      ...(cli.env && { env: cli.env }),
      ...(stdin && { stdin: stdin.toString("base64") }),
      ...(cli.outputCap !== undefined && { outputCapBytes: cli.outputCap }),
    },
    memoryMiB: cli.memory,
    pidsMax: cli.pids,
    cpus,
    limitsExplicit: cli.limitsExplicit ?? false,
    cpusExplicit: explicit,
  };

  if (daemon) {
    // The sandbox will be the daemon's actor: it is the daemon that reports to the inspector.
    if (cli.inspect) {
      await daemon.inspect().then(
        ({ url }) => say(`inspector: ${url}`),
        (err: Error) => say(`no inspector: ${err.message}`),
      );
    }
    let interrupted: NodeJS.Signals | null = null;
    const cancel = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      interrupted = signal;
      cancel.abort(); // the daemon sees the connection close and destroys the sandbox
    };
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, onSignal);
    const run = await execOn(daemon, spec, cli, cancel.signal);
    return finish(run, cli, "daemon", interrupted, []);
  }

  const { withRuntime } = await import("../service/with-runtime.ts");
  const { attachInspector } = await import("../inspector/inspector-attach.ts");
  const { logFile } = await import("../logger.ts");
  const ended = await withRuntime(
    {
      verbose: cli.verbose,
      command: "exec",
      reason: "command finished",
      inspect: cli.inspect === true,
      onSignal: "orchestrated",
      onCrash: (err) => say(`internal error: ${err.message} (see ${logFile()}); destroying the sandbox`),
    },
    async ({ service, source }) => {
      const inspector = source ? await attachInspector(source) : null;
      if (inspector) say(`inspector: ${inspector.url}`);
      return { run: await execOn(service, spec, cli), inspector };
    },
  );
  await ended.value.inspector?.close(); // after the stop: a watching tab sees the sandbox destroyed
  return finish(ended.value.run, cli, "in-process", ended.interrupted, ended.stopped.forced);
}

async function execOn(service: IronclawService, spec: ExecSpec, cli: ExecCliOptions, signal?: AbortSignal): Promise<Run> {
  const started = performance.now();
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  try {
    const report = await service.exec(
      spec,
      {
        ready: ({ sandbox, isolation, leased }) => {
          if (cli.json || !process.stderr.isTTY) return;
          say(service.path === "daemon" ? `sandbox ${sandbox} (daemon${leased ? ", from the pool" : ""}): ${isolation}` : `sandbox ${sandbox}: ${isolation}`);
        },
        // The sink: output is decoded here, once, on its way to the terminal (or the JSON result).
        output: (stream, data) => {
          const bytes = Buffer.from(data, "base64");
          if (cli.json) (stream === "stdout" ? stdout : stderr).push(bytes);
          else (stream === "stdout" ? process.stdout : process.stderr).write(bytes);
        },
        warning: (message) => {
          if (!cli.json) say(`warning: ${message}`);
        },
      },
      signal,
    );
    return { report, failure: null, started, stdout, stderr };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    return { report: null, failure: (err as Error).message, started, stdout, stderr };
  }
}

function finish(run: Run, cli: ExecCliOptions, path: "in-process" | "daemon", interrupted: NodeJS.Signals | null, forced: readonly string[]): number {
  if (run.failure !== null && !interrupted) {
    say(run.failure);
    return ExitCode.sandboxFailure;
  }
  const outcome = run.report?.outcome ?? null;
  const { exitCode, message, notice } = reportOutcome(outcome, { timeoutSecs: cli.timeout, memoryMiB: cli.memory, pidsMax: cli.pids, interrupted });
  if (notice) say(notice);
  if (forced.length) say(`warning: teardown of ${forced.join(", ")} timed out; it was killed and reaped`);
  if (cli.json && run.report) {
    const { backend, passedOver, limits } = run.report;
    process.stdout.write(
      `${safeJson(resultJson({ path, backend, passedOver, limits, outcome: run.report.outcome, exitCode, message, started: run.started, stdout: run.stdout, stderr: run.stderr }))}\n`,
    );
  } else if (message) {
    say(message);
  }
  return exitCode;
}
