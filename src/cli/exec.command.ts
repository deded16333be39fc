// `ironclaw exec`: one command, one fresh sandbox, then nothing left — through the daemon when
// one is up (exec-daemon.ts), else under an orchestrator in this process (exec-local.ts), which
// is loaded only then: a daemon client need not parse the whole runtime.
import { parseBackend } from "../../core/backend.ts";
import { ask, connectDaemon } from "../daemon/daemon-client.ts";
import { say } from "./cli-io.ts";
import { chooseCpus } from "./cpus-choice.ts";
import { execViaDaemon } from "./exec-daemon.ts";
import { UsageError } from "../../core/errors.ts";

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

/** What both paths run with: the CPU limit chosen, and whether the user gave it. */
export interface ExecOptions extends ExecCliOptions {
  readonly cpus: number;
  readonly cpusExplicit: boolean;
}

export async function runExec(command: string[], cli: ExecCliOptions): Promise<number> {
  if (command.length === 0) throw new UsageError("exec needs a command: ironclaw exec -- CMD [ARGS...]");
  if (cli.backend !== undefined) parseBackend(cli.backend);
  const { cpus, explicit } = chooseCpus(cli.cpus);
  const opts: ExecOptions = { ...cli, cpus, cpusExplicit: explicit };
  if (opts.daemon !== false) {
    const socket = await connectDaemon();
    if (socket) {
      // The sandbox will be the daemon's actor: it is the daemon that reports to the inspector.
      const inspector = opts.inspect ? await ask({ type: "inspect" }) : null;
      if (inspector?.type === "inspector") say(`inspector: ${inspector.url}`);
      else if (inspector?.type === "error") say(`no inspector: ${inspector.message}`);
      return execViaDaemon(socket, command, opts);
    }
  }
  const { execInProcess } = await import("./exec-local.ts");
  return execInProcess(command, opts);
}
