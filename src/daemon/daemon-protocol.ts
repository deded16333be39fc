// The daemon's socket protocol: the guest protocol's framing (4-byte length + JSON), with its
// own messages, validated with Effect Schema on both ends. One connection carries one request;
// closing the connection cancels it (an exec's sandbox is torn down). Requests and replies are
// IronclawService's (src/service/ironclaw-service.ts), with a type to tell them apart.
import { Schema } from "effect";
import { ExecOutput } from "../../core/exec.ts";
import { schemaDecoder } from "../../core/schema-decoder.ts";
import { ExecReady, ExecReport, ExecSpec, McpProgress, McpServerRow, McpTool, PoolStats, ServiceStatus } from "../service/ironclaw-service.ts";

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));

export const ClientMessage = Schema.Union([
  Schema.Struct({ type: Schema.Literal("exec"), ...ExecSpec.fields }),
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

export const DaemonMessage = Schema.Union([
  Schema.Struct({ type: Schema.Literal("ready"), ...ExecReady.fields }),
  Schema.Struct({ type: Schema.Literal("output"), ...ExecOutput.fields }),
  /** The exec is over: its outcome, which the client turns into an exit code. */
  Schema.Struct({ type: Schema.Literal("done"), ...ExecReport.fields }),
  Schema.Struct({ type: Schema.Literal("status"), ...ServiceStatus.fields }),
  Schema.Struct({ type: Schema.Literal("pool.stats"), ...PoolStats.fields }),
  Schema.Struct({
    type: Schema.Literal("mcp.servers"),
    /** The project whose config the daemon's servers come from (where `ironclaw up` ran). */
    projectDir: Schema.String,
    servers: Schema.Array(McpServerRow),
  }),
  Schema.Struct({ type: Schema.Literal("mcp.tools"), server: Schema.String, tools: Schema.Array(McpTool) }),
  Schema.Struct({ type: Schema.Literal("mcp.progress"), ...McpProgress.fields }),
  /** A tool's result: the server's own words, passed on as they are. */
  Schema.Struct({ type: Schema.Literal("mcp.result"), result: Schema.Unknown }),
  Schema.Struct({ type: Schema.Literal("ok") }),
  Schema.Struct({ type: Schema.Literal("inspector"), url: Schema.String, mode: Schema.Literals(["linked", "serving"]) }),
  Schema.Struct({ type: Schema.Literal("error"), code: Schema.String, message: Schema.String }),
]);
export type DaemonMessage = typeof DaemonMessage.Type;

export const decodeClientMessage = schemaDecoder(ClientMessage);
export const decodeDaemonMessage = schemaDecoder(DaemonMessage);
