// How an IronClaw process ends, whatever ends it. A signal or an uncaught exception becomes
// an orchestrator shutdown (each sandbox torn down in order), bounded in time; a second signal,
// or a shutdown that takes too long, kills what is left at once; and process exit always
// sweeps whatever sandbox this process still has recorded.
import { constants } from "node:os";
import { ExitCode } from "../core/exit-codes.ts";
import type { Logger } from "./logger.ts";
import type { Runtime } from "./runtime.ts";

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** How long an orderly shutdown after a crash may take before the sandboxes are killed outright. */
const CRASH_SHUTDOWN_MS = 5000;

export const signalExitCode = (signal: NodeJS.Signals) => ExitCode.signalBase + (constants.signals[signal] ?? 0);

export interface ProcessGuard {
  /** The signal that started the shutdown, if one did. */
  readonly interruptedBy: () => NodeJS.Signals | null;
}

export interface GuardOptions {
  /** Told about an uncaught exception before the shutdown it starts. */
  readonly onCrash: (err: Error) => void;
  /**
   * "orchestrated": a signal starts an orderly orchestrator shutdown and the caller reports;
   * "immediate": a signal kills this process's sandboxes and exits (for commands whose
   * sandboxes are not orchestrator children, such as doctor's probes).
   */
  readonly onSignal: "orchestrated" | "immediate";
}

export function guardProcess(runtime: Runtime, logger: Logger, options: GuardOptions): ProcessGuard {
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted || options.onSignal === "immediate") {
      // A second Ctrl-C: do not wait for an orderly teardown any more.
      runtime.sweepSync();
      process.exit(signalExitCode(signal));
    }
    interrupted = signal;
    logger.info({ signal }, "shutting down on signal");
    runtime.orchestrator.send({ type: "SHUTDOWN", reason: signal });
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.on("exit", () => runtime.sweepSync());

  let crashed = false;
  process.on("uncaughtException", (err) => {
    logger.fatal({ err }, "uncaught exception");
    if (crashed) {
      runtime.sweepSync();
      process.exit(ExitCode.sandboxFailure);
    }
    crashed = true;
    options.onCrash(err);
    runtime.orchestrator.send({ type: "SHUTDOWN", reason: "uncaught exception" });
    const force = setTimeout(() => {
      runtime.sweepSync();
      process.exit(ExitCode.sandboxFailure);
    }, CRASH_SHUTDOWN_MS);
    void runtime.stopped.finally(() => {
      clearTimeout(force);
      process.exit(ExitCode.sandboxFailure);
    });
  });
  return { interruptedBy: () => interrupted };
}
