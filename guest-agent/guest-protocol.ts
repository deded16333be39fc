// The host ↔ guest wire protocol: the only language the host and the guest agent share.
// Both sides validate every message against these schemas, so a confused or hostile peer
// produces a clear error instead of undefined behaviour. Bump PROTOCOL_VERSION on any
// change that an older peer would misread.
import { Schema } from "effect";
import { Base64, ExecExit, ExecJob, ExecOutput } from "../core/exec.ts";
import { schemaDecoder } from "../core/schema-decoder.ts";

export const PROTOCOL_VERSION = 2;

/** Largest frame either side accepts; a larger length prefix is a protocol error, not an allocation. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;
/** Output is forwarded in chunks of at most this many bytes so one frame never nears MAX_FRAME_BYTES. */
export const OUTPUT_CHUNK_BYTES = 64 * 1024;
/** Files moved in one read/write request (raw bytes, before base64). */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
/**
 * The guest vsock port the agent is served on where the VMM has no virtio-serial (Firecracker).
 * The guest learns it from the kernel command line (IRONCLAW_VSOCK_PORT=…), so this is the only copy.
 */
export const AGENT_VSOCK_PORT = 1024;
/** The environment of the agent, and of a command that is given none of its own. */
export const GUEST_ENV: Readonly<Record<string, string>> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LANG: "C.UTF-8",
};
/**
 * Default cap on stdout+stderr of one exec; past it output is dropped and the result says so.
 * An interactive exec (a long-running server spoken to over its stdio) has no cap unless it
 * asks for one: its output is a conversation, not a result to keep.
 */
export const DEFAULT_OUTPUT_CAP_BYTES = 16 * 1024 * 1024;
/** Bytes for an interactive exec's stdin are sent in chunks of at most this many (before base64). */
export const STDIN_CHUNK_BYTES = 1024 * 1024;

const Id = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64));
const Path = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(4096));
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));

// ── host → guest ────────────────────────────────────────────────────────────
/** The host's job (core/exec.ts) with its id; a command spoken to over its stdio (interactive) may have no deadline. */
export const ExecRequest = Schema.Struct({
  type: Schema.Literal("exec"),
  id: Id,
  ...ExecJob.fields,
  timeoutMs: Schema.optional(ExecJob.fields.timeoutMs),
  /** Keep the command's stdin open (after `stdin`, if given) for `stdin` requests; no output cap by default. */
  interactive: Schema.optional(Schema.Boolean),
});
/**
 * Bytes for the stdin of a running interactive exec (`target`), and/or its end. Answered with
 * `ok` once the agent has handed the bytes to the command's pipe, so a host that waits for the
 * answer does not outrun a command that reads slowly.
 */
export const StdinRequest = Schema.Struct({
  type: Schema.Literal("stdin"),
  id: Id,
  target: Id,
  data: Schema.optional(Base64),
  eof: Schema.optional(Schema.Boolean),
});
export const CancelRequest = Schema.Struct({ type: Schema.Literal("cancel"), id: Id, target: Id });
export const ReadFileRequest = Schema.Struct({ type: Schema.Literal("readFile"), id: Id, path: Path });
export const WriteFileRequest = Schema.Struct({
  type: Schema.Literal("writeFile"),
  id: Id,
  path: Path,
  data: Base64,
  mode: Schema.optional(NonNegativeInt),
});
export const ListRequest = Schema.Struct({ type: Schema.Literal("list"), id: Id, path: Path });
export const StatRequest = Schema.Struct({ type: Schema.Literal("stat"), id: Id, path: Path });
export const ShutdownRequest = Schema.Struct({ type: Schema.Literal("shutdown"), id: Id });
/**
 * Sent first on a new connection to a VM restored from a snapshot, whose agent is mid-session
 * and will not say hello on its own. The agent sets the clock (frozen since the snapshot), mixes
 * fresh entropy into the kernel's pool (every clone starts from the same one), and answers hello.
 */
export const ResumeRequest = Schema.Struct({
  type: Schema.Literal("resume"),
  id: Id,
  nowMs: Schema.Number,
  entropy: Base64,
});

export const HostMessage = Schema.Union([ExecRequest, StdinRequest, CancelRequest, ReadFileRequest, WriteFileRequest, ListRequest, StatRequest, ShutdownRequest, ResumeRequest]);
export type HostMessage = typeof HostMessage.Type;
export type ExecRequest = typeof ExecRequest.Type;
export type StdinRequest = typeof StdinRequest.Type;

// ── guest → host ────────────────────────────────────────────────────────────
export const Hello = Schema.Struct({
  type: Schema.Literal("hello"),
  protocol: Schema.Int,
  agent: Schema.String,
  pid: Schema.Int,
  kernel: Schema.String,
});
export const Output = Schema.Struct({ type: Schema.Literal("output"), id: Id, ...ExecOutput.fields });
export const Exit = Schema.Struct({ type: Schema.Literal("exit"), id: Id, ...ExecExit.fields });
export const FileEntry = Schema.Struct({
  name: Schema.String,
  kind: Schema.Literals(["file", "directory", "symlink", "other"]),
  size: NonNegativeInt,
  mode: NonNegativeInt,
  mtimeMs: Schema.Number,
});
export type FileEntry = typeof FileEntry.Type;
export const FileData = Schema.Struct({ type: Schema.Literal("file"), id: Id, data: Base64 });
export const Entries = Schema.Struct({ type: Schema.Literal("entries"), id: Id, entries: Schema.Array(FileEntry) });
export const StatResult = Schema.Struct({ type: Schema.Literal("stat"), id: Id, entry: FileEntry });
export const Ok = Schema.Struct({ type: Schema.Literal("ok"), id: Id });
/** `code` is an errno name (ENOENT, EACCES, …) or one of the protocol's own (EPROTO, E2BIG, ECANCELED). */
export const ErrorReply = Schema.Struct({
  type: Schema.Literal("error"),
  id: Schema.NullOr(Id),
  code: Schema.String,
  message: Schema.String,
});

export const GuestMessage = Schema.Union([Hello, Output, Exit, FileData, Entries, StatResult, Ok, ErrorReply]);
export type GuestMessage = typeof GuestMessage.Type;
export type Hello = typeof Hello.Type;

export const decodeHostMessage = schemaDecoder(HostMessage);
export const decodeGuestMessage = schemaDecoder(GuestMessage);
