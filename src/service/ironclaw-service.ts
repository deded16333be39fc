// What IronClaw does for a command, behind one interface with two implementations: a
// LocalService over a runtime in this process (local-service.ts), and a DaemonClient that asks
// a running daemon over its socket (src/daemon/daemon-client.ts), which serves it with a
// LocalService of its own. Each CLI command is written once, against this. The schemas are of
// what crosses the daemon's socket; this module loads none of the runtime.
import { Schema } from "effect";
import type { ActorRefFrom } from "xstate";
import { BACKENDS } from "../../core/backend.ts";
import { ExecJob, ExecResult, type Stream } from "../../core/exec.ts";
import type { agentSessionMachine, SessionInput, SessionOutput } from "../../machines/agent-session.machine.ts";

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));

/** One command in a fresh sandbox: the job (core/exec.ts), where, and with what limits. */
export const ExecSpec = Schema.Struct({
  /** A backend name; absent: the service's default (the daemon's, or the strongest that works here). */
  backend: Schema.optional(Schema.String),
  job: ExecJob,
  memoryMiB: Count,
  pidsMax: Count,
  /** CPUs' worth of time (fractions allowed); absent: the setting sandbox.cpus. */
  cpus: Schema.optional(Schema.Number.check(Schema.isGreaterThan(0))),
  /** --memory or --pids was given: refuse where they cannot be enforced (defaults only warn). */
  limitsExplicit: Schema.Boolean,
  /** --cpus was given: refuse where no CPU quota can be set. */
  cpusExplicit: Schema.Boolean,
});
export type ExecSpec = typeof ExecSpec.Type;

const VmFailure = Schema.Struct({
  stage: Schema.Literals(["provision", "boot", "ready", "exec", "stop", "teardown"]),
  code: Schema.String,
  message: Schema.String,
});

/** What happened to one job (src/exec-job.ts makes it; src/exec-report.ts reads it). */
export const JobOutcome = Schema.Struct({
  sandbox: Schema.String,
  isolation: Schema.String,
  leased: Schema.Boolean,
  result: Schema.NullOr(ExecResult),
  /** The command could not be run (not found, not executable) but the sandbox was fine. */
  commandError: Schema.NullOr(Schema.Struct({ code: Schema.String, message: Schema.String })),
  /** The sandbox itself failed. */
  failure: Schema.NullOr(VmFailure),
  oomAtTeardown: Schema.Boolean,
  pidsAtTeardown: Schema.Boolean,
});
export type JobOutcome = typeof JobOutcome.Type;

/** A stronger backend not chosen by default, and why (doctor, exec --json, run --json). */
export const PassedOverBackend = Schema.Struct({ backend: Schema.Literals(BACKENDS), reason: Schema.String });

/** A finished exec: the job's outcome, the backend that ran it (and the stronger ones passed over), and the limits in force (or why none). */
export const ExecReport = Schema.Struct({ backend: Schema.String, passedOver: Schema.Array(PassedOverBackend), limits: Schema.String, outcome: JobOutcome });
export type ExecReport = typeof ExecReport.Type;

export const ExecReady = Schema.Struct({ sandbox: Schema.String, isolation: Schema.String, leased: Schema.Boolean, backend: Schema.String });
export type ExecReady = typeof ExecReady.Type;

export interface ExecListener {
  /** The sandbox is up and the command is about to start. */
  ready?(ready: ExecReady): void;
  /** A piece of output, in base64 as the guest sent it: the listener is the sink that decodes it. */
  output?(stream: Stream, data: string): void;
  /** Something the person should know that does not stop the run (a limit not in force). In process only. */
  warning?(message: string): void;
}

export const ServiceStatus = Schema.Struct({
  pid: Schema.Int,
  startedAt: Schema.String,
  /** The default backend. */
  backend: Schema.String,
  /** The root orchestrator's state. */
  state: Schema.String,
  /** The inspector the service reports to, if any. */
  inspector: Schema.optional(Schema.NullOr(Schema.String)),
  /** The socket a daemon serves on. */
  socket: Schema.optional(Schema.String),
  children: Schema.Array(Schema.Struct({ id: Schema.String, src: Schema.String, state: Schema.String })),
});
export type ServiceStatus = typeof ServiceStatus.Type;

export const SlotStats = Schema.Struct({
  id: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)),
  backend: Schema.String,
  state: Schema.String,
  generation: Count,
  failures: Count,
  lastError: Schema.NullOr(Schema.String),
});
export const PoolStats = Schema.Struct({ size: Count, ready: Count, slots: Schema.Array(SlotStats) });
export type PoolStats = typeof PoolStats.Type;

/** An MCP server's connection as it is now (ready, reconnecting, …), without waiting for it. */
export const McpServerRow = Schema.Struct({
  name: Schema.String,
  transport: Schema.String,
  state: Schema.String,
  tools: Count,
  attempt: Count,
  lastError: Schema.NullOr(Schema.String),
});
export type McpServerRow = typeof McpServerRow.Type;

/** A tool as its server describes it (name, description, schemas: the server's own words). */
export const McpTool = Schema.Record(Schema.String, Schema.Unknown);
export type McpTool = typeof McpTool.Type;

export const McpProgress = Schema.Struct({ progress: Schema.Number, total: Schema.optional(Schema.Number), message: Schema.optional(Schema.String) });
export type McpProgress = typeof McpProgress.Type;

export interface McpCallOptions {
  readonly timeoutMs?: number;
  readonly onProgress?: (progress: McpProgress) => void;
  /** Aborting cancels the call: the server gets notifications/cancelled. */
  readonly signal?: AbortSignal;
}

export interface IronclawService {
  /** Where the work happens: this process, or a daemon (what `--json` reports as `path`). */
  readonly path: "in-process" | "daemon";
  /**
   * Runs one command in a fresh sandbox (a ready one from the pool when there is one made with
   * these limits) and resolves with its outcome once the sandbox is gone. Aborting `signal`
   * destroys the sandbox. Rejects, with a coded error and nothing started, when the backend
   * is unknown or unusable, or limits asked for cannot be enforced here.
   */
  exec(spec: ExecSpec, listener?: ExecListener, signal?: AbortSignal): Promise<ExecReport>;
  status(): Promise<ServiceStatus>;
  readonly pool: {
    /** Adds slots of ready sandboxes (in the background) until `size` exist for the backend. */
    warm(options: { backend?: string; size?: number }): Promise<void>;
    stats(): Promise<PoolStats>;
  };
  readonly mcp: {
    /** The service's MCP connections as they are now; a CLI waits for its own first (tools()). */
    list(): Promise<{ projectDir: string; servers: readonly McpServerRow[] }>;
    /** Once the server is ready: its tools, as it describes them. */
    tools(server: string): Promise<readonly McpTool[]>;
    /** Calls a tool the server has (a usage error otherwise) and resolves with its result. */
    call(server: string, tool: string, args: Readonly<Record<string, unknown>>, options?: McpCallOptions): Promise<unknown>;
  };
  /** The inspector this service reports to, attached now if it was not: its URL. */
  inspect(): Promise<{ url: string; mode: "linked" | "serving" }>;
  /**
   * An agent session (`ironclaw run`): spawned under the orchestrator; `watch` is given the
   * session's actor (to follow its approvals), and the promise its output when it ends (null if
   * it never started). In process only: a session needs the caller's model, policy, audit log,
   * project and terminal, none of which a daemon holds. DaemonClient refuses (ENOTSUPPORTED),
   * so `ironclaw run` always uses a LocalService.
   */
  run(input: SessionInput, watch?: (session: ActorRefFrom<typeof agentSessionMachine>) => void): Promise<SessionOutput | null>;
}
