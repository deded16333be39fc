// One command in a sandbox, as every hop carries it: the CLI, the service and the daemon's
// socket, the vm machine's EXEC event, its execute actor, the guest channel and the guest
// agent's wire protocol (guest-agent/guest-protocol.ts builds its exec and exit messages from
// these fields). One set of names and units everywhere; bytes stay base64, as on the wire,
// until whoever finally consumes them (a terminal, a tool result) decodes them once.
// The guest agent is bundled alone and imports this: it holds schemas only.
import { Schema } from "effect";

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));
/** Bytes in base64, as the guest protocol carries them. */
export const Base64 = Schema.String;
export const Stream = Schema.Literals(["stdout", "stderr"]);
export type Stream = typeof Stream.Type;

/**
 * What to run. `env` replaces the guest's default environment only where it names a variable
 * (the vm's execute actor lays it over GUEST_ENV); `timeoutMs` bounds the command, after which
 * the guest kills it (the host's vm machine stops trusting the guest a grace period later).
 */
export const ExecJob = Schema.Struct({
  argv: Schema.Array(Schema.String.check(Schema.isMinLength(1))).check(Schema.isMinLength(1)),
  cwd: Schema.optional(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(4096))),
  env: Schema.optional(Schema.Record(Schema.String, Schema.String)),
  stdin: Schema.optional(Base64),
  timeoutMs: NonNegativeInt,
  /** Most stdout+stderr bytes kept; past it the command's output is cut and the result says so. */
  outputCapBytes: Schema.optional(NonNegativeInt),
});
export type ExecJob = typeof ExecJob.Type;

/** A piece of the command's output, in base64. */
export const ExecOutput = Schema.Struct({ stream: Stream, data: Base64 });
export type ExecOutput = typeof ExecOutput.Type;

/** How the command ended, as the guest saw it. */
export const ExecExit = Schema.Struct({
  code: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(Schema.String),
  timedOut: Schema.Boolean,
  truncated: Schema.Boolean,
  outputBytes: NonNegativeInt,
  durationMs: Schema.Number,
});
export type ExecExit = typeof ExecExit.Type;

/** How the command ended, with what only the host can tell: whether the kernel's OOM killer did it. */
export const ExecResult = Schema.Struct({ ...ExecExit.fields, oomKilled: Schema.Boolean });
export type ExecResult = typeof ExecResult.Type;
