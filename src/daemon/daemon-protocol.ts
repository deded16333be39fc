// The daemon's socket protocol: the guest protocol's framing (4-byte length + JSON), with its
// own messages, validated with Effect Schema on both ends. One connection carries one request;
// closing the connection cancels it (an exec's sandbox is torn down).
import { Schema } from "effect";
import { schemaDecoder } from "../../core/schema-decoder.ts";

const Id = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64));
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));

export const ExecRequest = Schema.Struct({
  type: Schema.Literal("exec"),
  backend: Schema.optional(Schema.String),
  argv: Schema.Array(Schema.String).check(Schema.isMinLength(1)),
  cwd: Schema.String,
  env: Schema.optional(Schema.Record(Schema.String, Schema.String)),
  stdin: Schema.optional(Schema.String),
  timeoutMs: Count,
  outputCapBytes: Schema.optional(Count),
  memoryMiB: Count,
  pidsMax: Count,
  /** The caller set --memory/--pids: refuse where they cannot be enforced. */
  limitsExplicit: Schema.Boolean,
  /** CPUs' worth of time (fractions allowed); absent: the daemon's default (settings' sandbox.cpus). */
  cpus: Schema.optional(Schema.Number.check(Schema.isGreaterThan(0))),
  /** The caller set --cpus: refuse where no CPU quota can be set. */
  cpusExplicit: Schema.optional(Schema.Boolean),
});
export type ExecRequest = typeof ExecRequest.Type;

export const ClientMessage = Schema.Union([
  ExecRequest,
  Schema.Struct({ type: Schema.Literal("status") }),
  Schema.Struct({ type: Schema.Literal("pool.warm"), backend: Schema.optional(Schema.String), size: Schema.optional(Count) }),
  Schema.Struct({ type: Schema.Literal("pool.stats") }),
  Schema.Struct({ type: Schema.Literal("shutdown") }),
  /** Report to the running inspector (or serve one): the answer is its URL. */
  Schema.Struct({ type: Schema.Literal("inspect") }),
  Schema.Struct({ type: Schema.Literal("mcp.list") }),
  Schema.Struct({ type: Schema.Literal("mcp.tools"), server: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("mcp.call"),
    server: Schema.String,
    tool: Schema.String,
    args: Schema.Record(Schema.String, Schema.Unknown),
    timeoutMs: Schema.optional(Count),
  }),
]);
export type ClientMessage = typeof ClientMessage.Type;

const SlotStats = Schema.Struct({
  id: Id,
  backend: Schema.String,
  state: Schema.String,
  generation: Count,
  failures: Count,
  lastError: Schema.NullOr(Schema.String),
});

export const DaemonMessage = Schema.Union([
  Schema.Struct({ type: Schema.Literal("ready"), sandbox: Id, isolation: Schema.String, leased: Schema.Boolean, backend: Schema.String }),
  Schema.Struct({ type: Schema.Literal("output"), stream: Schema.Literals(["stdout", "stderr"]), data: Schema.String }),
  /** The job's outcome (src/exec-job.ts JobOutcome); the client turns it into an exit code. */
  Schema.Struct({ type: Schema.Literal("done"), backend: Schema.String, limits: Schema.String, outcome: Schema.Unknown }),
  Schema.Struct({
    type: Schema.Literal("status"),
    pid: Schema.Int,
    socket: Schema.String,
    startedAt: Schema.String,
    backend: Schema.String,
    state: Schema.String,
    /** The inspector this daemon reports to, if any. */
    inspector: Schema.optional(Schema.NullOr(Schema.String)),
    children: Schema.Array(Schema.Struct({ id: Schema.String, src: Schema.String, state: Schema.String })),
  }),
  Schema.Struct({ type: Schema.Literal("pool.stats"), size: Count, ready: Count, slots: Schema.Array(SlotStats) }),
  Schema.Struct({
    type: Schema.Literal("mcp.servers"),
    /** The project whose config the daemon's servers come from (where `ironclaw up` ran). */
    projectDir: Schema.String,
    servers: Schema.Array(
      Schema.Struct({ name: Schema.String, transport: Schema.String, state: Schema.String, tools: Count, attempt: Count, lastError: Schema.NullOr(Schema.String) }),
    ),
  }),
  Schema.Struct({ type: Schema.Literal("mcp.tools"), server: Schema.String, tools: Schema.Array(Schema.Unknown) }),
  Schema.Struct({ type: Schema.Literal("mcp.progress"), progress: Schema.Number, total: Schema.optional(Schema.Number), message: Schema.optional(Schema.String) }),
  Schema.Struct({ type: Schema.Literal("mcp.result"), result: Schema.Unknown }),
  Schema.Struct({ type: Schema.Literal("ok") }),
  Schema.Struct({ type: Schema.Literal("inspector"), url: Schema.String, mode: Schema.Literals(["linked", "serving"]) }),
  Schema.Struct({ type: Schema.Literal("error"), code: Schema.String, message: Schema.String }),
]);
export type DaemonMessage = typeof DaemonMessage.Type;

export const decodeClientMessage = schemaDecoder(ClientMessage);
export const decodeDaemonMessage = schemaDecoder(DaemonMessage);
