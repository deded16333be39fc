// `ironclaw exec` through a running daemon: the daemon leases a ready sandbox from its pool
// (or boots one) and streams the run back. Ctrl-C closes the connection, which makes the
// daemon tear the sandbox down; the exit code means the same as on the in-process path.
import { safeJson } from "../../core/terminal-text.ts";
import type { Socket } from "node:net";
import { GUEST_ENV } from "../../guest-agent/guest-protocol.ts";
import { request } from "../daemon/daemon-client.ts";
import type { JobOutcome } from "../exec-job.ts";
import { reportOutcome, resultJson } from "../exec-report.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import type { ExecOptions } from "./exec.command.ts";
import { readStdin, say } from "./cli-io.ts";

export async function execViaDaemon(socket: Socket, command: string[], opts: ExecOptions): Promise<number> {
  const stdin = opts.stdin ? await readStdin() : undefined;
  const started = performance.now();
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let outcome: JobOutcome | null = null;
  let backend = opts.backend ?? "";
  let limits = "";
  let refused: string | null = null;
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    socket.destroy(); // the daemon sees the connection close and destroys the sandbox
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, onSignal);

  try {
    await request(
      socket,
      {
        type: "exec",
        ...(opts.backend && { backend: opts.backend }),
        argv: command,
        cwd: opts.cwd,
        ...(opts.env && { env: { ...GUEST_ENV, ...opts.env } }),
        ...(stdin && { stdin: stdin.toString("base64") }),
        timeoutMs: Math.round(opts.timeout * 1000),
        ...(opts.outputCap !== undefined && { outputCapBytes: opts.outputCap }),
        memoryMiB: opts.memory,
        pidsMax: opts.pids,
        limitsExplicit: opts.limitsExplicit ?? false,
        cpus: opts.cpus,
        cpusExplicit: opts.cpusExplicit,
      },
      (m) => {
        if (m.type === "ready" && !opts.json && process.stderr.isTTY) {
          say(`sandbox ${m.sandbox} (daemon${m.leased ? ", from the pool" : ""}): ${m.isolation}`);
        } else if (m.type === "output") {
          const data = Buffer.from(m.data, "base64");
          if (opts.json) (m.stream === "stdout" ? stdout : stderr).push(data);
          else (m.stream === "stdout" ? process.stdout : process.stderr).write(data);
        } else if (m.type === "done") {
          outcome = m.outcome as JobOutcome;
          backend = m.backend;
          limits = m.limits;
        } else if (m.type === "error") {
          refused = m.message;
        }
      },
    );
  } catch (err) {
    if (!interrupted) {
      say((err as Error).message);
      return ExitCode.sandboxFailure;
    }
  }
  if (refused && !outcome) {
    say(refused);
    return ExitCode.sandboxFailure;
  }
  const { exitCode, message, notice } = reportOutcome(outcome, {
    timeoutSecs: opts.timeout,
    memoryMiB: opts.memory,
    pidsMax: opts.pids,
    interrupted,
  });
  if (notice) say(notice);
  if (opts.json && outcome) {
    process.stdout.write(`${safeJson(resultJson({ path: "daemon", backend, limits, outcome, exitCode, message, started, stdout, stderr }))}\n`);
  } else if (message) {
    say(message);
  }
  return exitCode;
}
