// The one way an in-process command boots IronClaw and ends it: logger, runtime, process
// guard, leftovers reaped, orchestrator started; then the command's body; then an orderly
// shutdown (every sandbox torn down) awaited, whatever the body did.
import type { InspectionEvent } from "xstate";
import type { OrchestratorOutput } from "../../machines/orchestrator.machine.ts";
import { createInspectionSource, type InspectionSource } from "../inspector/inspection-source.ts";
import { createLogger, type Logger } from "../logger.ts";
import { guardProcess, type GuardOptions, type ProcessGuard } from "../process-guard.ts";
import { createRuntime, type Runtime, type RuntimeOptions } from "../runtime.ts";
import type { SandboxRecord } from "../../actors/sandbox/sandbox-driver.ts";
import { LocalService } from "./local-service.ts";

export interface WithRuntimeOptions extends GuardOptions {
  readonly verbose: boolean;
  /** A logger made already (the daemon logs before its runtime exists); absent: one is made. */
  readonly logger?: Logger;
  /** What runs (`exec`, `daemon`, …): names this process to the inspector. */
  readonly command: string;
  /** Why the orchestrator is shut down when the body is done (for the log). */
  readonly reason: string;
  /** Make an inspection source (the inspector is attached by the body, which knows how). */
  readonly inspect?: boolean;
  /** Also told every inspection event (`run` finds its approval requests this way). */
  readonly observe?: (event: InspectionEvent) => void;
  readonly runtime?: Omit<RuntimeOptions, "logger" | "inspect">;
}

export interface RuntimeScope {
  readonly runtime: Runtime;
  readonly logger: Logger;
  readonly guard: ProcessGuard;
  /** The runtime as a service: what commands written against IronclawService use. */
  readonly service: LocalService;
  readonly source: InspectionSource | null;
  /** What a SIGKILLed IronClaw left, removed before anything started. */
  readonly reaped: readonly SandboxRecord[];
}

export interface RuntimeEnded<T> {
  readonly value: T;
  readonly stopped: OrchestratorOutput;
  /** The signal that started the shutdown, if one did. */
  readonly interrupted: NodeJS.Signals | null;
}

export async function withRuntime<T>(options: WithRuntimeOptions, body: (scope: RuntimeScope) => Promise<T>): Promise<RuntimeEnded<T>> {
  const logger = options.logger ?? (await createLogger({ verbose: options.verbose }));
  const source = options.inspect ? createInspectionSource({ pid: process.pid, command: options.command, cwd: process.cwd() }) : null;
  const observers = [source?.inspect, options.observe].filter((o) => o !== undefined);
  const runtime = createRuntime({ ...options.runtime, logger, ...(observers.length && { inspect: (event: InspectionEvent) => observers.forEach((o) => o(event)) }) });
  const guard = guardProcess(runtime, logger, { onSignal: options.onSignal, onCrash: options.onCrash });
  const reaped = await runtime.reapLeftovers();
  runtime.orchestrator.start();
  let value: T;
  try {
    value = await body({ runtime, logger, guard, service: new LocalService(runtime, { logger }), source, reaped });
  } finally {
    // A body may have waited for the orchestrator to stop (the daemon does, until `down`).
    if (runtime.orchestrator.getSnapshot().status === "active") runtime.orchestrator.send({ type: "SHUTDOWN", reason: options.reason });
    await runtime.stopped;
  }
  const stopped = await runtime.stopped;
  logger.info({ output: stopped }, "orchestrator stopped");
  return { value, stopped, interrupted: guard.interruptedBy() };
}
