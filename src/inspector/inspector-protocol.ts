// What the inspector's parts say to each other. Three links, one vocabulary:
//   source → hub   an IronClaw process (run, exec, the daemon) reports its actors;
//   hub → source   a human's answer to one of that process's approval requests;
//   hub ⇄ browser  the UI gets the whole picture on connect, then every change; it sends answers.
// Every message is JSON and is checked with Effect Schema where it enters a process, so a
// browser (or anything else holding the token) cannot send the hub a shape it does not expect.
import { Schema } from "effect";
import { schemaDecoder } from "../../core/schema-decoder.ts";

/** One actor as the inspector shows it. Ids are the actor's XState session id. */
export const ActorView = Schema.Struct({
  id: Schema.String,
  /** The nearest inspected ancestor (null for a root: the orchestrator). */
  parentId: Schema.NullOr(Schema.String),
  /** The actor's own id within its parent: "sandbox", "mcp.fs", a session id … */
  name: Schema.String,
  /** The machine's id ("vm", "agent-session" …): its chart is in `machines`. */
  machine: Schema.String,
  /** The machine's system id if it has one (the orchestrator: "orchestrator"). */
  systemId: Schema.NullOr(Schema.String),
  status: Schema.Literals(["active", "done", "error", "stopped"]),
  /** The XState state value. */
  value: Schema.Unknown,
  /** Chart node names (src/diagram.ts nodeName) of every active state, outermost first. */
  active: Schema.Array(Schema.String),
  /** The machine's context with secrets redacted and sizes capped (src/inspector/redact.ts). */
  context: Schema.Unknown,
  startedAt: Schema.Number,
  endedAt: Schema.NullOr(Schema.Number),
  /** Present while an approval request is pending: what the human is asked. */
  approval: Schema.NullOr(
    Schema.Struct({
      actionHash: Schema.String,
      summary: Schema.String,
      /** core/diff-card.ts DiffCard, as the terminal shows it. */
      card: Schema.Unknown,
      deadlineAt: Schema.Number,
    }),
  ),
});
export type ActorView = typeof ActorView.Type;

/** One line of an actor's log: an event it received, or a state it entered. */
export const LogEntry = Schema.Struct({
  at: Schema.Number,
  actorId: Schema.String,
  kind: Schema.Literals(["event", "state"]),
  /** The event's type, or the state entered (dotted path). */
  text: Schema.String,
  /** For events: the sender's id, when another actor sent it. */
  source: Schema.optional(Schema.String),
  /** For events: the payload, redacted and cut short. */
  detail: Schema.optional(Schema.String),
});
export type LogEntry = typeof LogEntry.Type;

export const ProcessInfo = Schema.Struct({
  /** Unique per connection of a source, e.g. "p4f9…". */
  id: Schema.String,
  pid: Schema.Int,
  /** What the process is: "run", "exec", "daemon". */
  command: Schema.String,
  cwd: Schema.String,
  connectedAt: Schema.Number,
  /** false once the process has gone: its actors stay visible, ended. */
  connected: Schema.Boolean,
});
export type ProcessInfo = typeof ProcessInfo.Type;

/** A human's answer, addressed to one approval actor of one process. */
export const Answer = Schema.Union([
  Schema.Struct({ type: Schema.Literal("approve"), requestId: Schema.String, process: Schema.String, actorId: Schema.String, actionHash: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("deny"),
    requestId: Schema.String,
    process: Schema.String,
    actorId: Schema.String,
    reason: Schema.optional(Schema.String.check(Schema.isMaxLength(500))),
  }),
]);
export type Answer = typeof Answer.Type;

/** Whether an answer reached its approval actor, and what became of it. */
export const AnswerResult = Schema.Struct({ type: Schema.Literal("answer.result"), requestId: Schema.String, ok: Schema.Boolean, message: Schema.String });
export type AnswerResult = typeof AnswerResult.Type;

// ── source → hub ──────────────────────────────────────────────────────────────────────────

export const SourceMessage = Schema.Union([
  Schema.Struct({ type: Schema.Literal("hello"), pid: Schema.Int, command: Schema.String, cwd: Schema.String }),
  Schema.Struct({ type: Schema.Literal("machine"), id: Schema.String, mermaid: Schema.String }),
  Schema.Struct({ type: Schema.Literal("actor"), actor: ActorView }),
  Schema.Struct({ type: Schema.Literal("log"), entry: LogEntry }),
  /** The same change in @statelyai/inspect's format (StatelyInspectionEvent), for Stately's tools. */
  Schema.Struct({ type: Schema.Literal("stately"), event: Schema.Record(Schema.String, Schema.Unknown) }),
  AnswerResult,
]);
export type SourceMessage = typeof SourceMessage.Type;

// ── hub → browser ─────────────────────────────────────────────────────────────────────────

export const UiMessage = Schema.Union([
  /** Everything the hub knows: sent on (re)connect, replacing whatever the page showed before. */
  Schema.Struct({
    type: Schema.Literal("state"),
    processes: Schema.Array(ProcessInfo),
    /** Keyed by `${process}/${actor id}`, as in every other message. */
    actors: Schema.Array(Schema.Struct({ process: Schema.String, actor: ActorView })),
    machines: Schema.Record(Schema.String, Schema.String),
    log: Schema.Array(Schema.Struct({ process: Schema.String, entry: LogEntry })),
  }),
  Schema.Struct({ type: Schema.Literal("process"), process: ProcessInfo }),
  Schema.Struct({ type: Schema.Literal("machine"), id: Schema.String, mermaid: Schema.String }),
  Schema.Struct({ type: Schema.Literal("actor"), process: Schema.String, actor: ActorView }),
  Schema.Struct({ type: Schema.Literal("log"), process: Schema.String, entry: LogEntry }),
  AnswerResult,
]);
export type UiMessage = typeof UiMessage.Type;

// ── decoding ──────────────────────────────────────────────────────────────────────────────

/** Text off a socket: JSON first, then the schema. */
function fromText<T>(decode: (json: unknown) => { ok: true; value: T } | { ok: false; error: string }) {
  return (text: string): { ok: true; value: T } | { ok: false; error: string } => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, error: "not JSON" };
    }
    return decode(json);
  };
}

export const decodeSourceMessage = fromText<SourceMessage>(schemaDecoder(SourceMessage));
export const decodeAnswer = fromText<Answer>(schemaDecoder(Answer));
/** hub → source: an answer to deliver (the `process` field is the hub's; the source ignores it). */
export const decodeHubCommand = decodeAnswer;
