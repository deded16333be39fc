// One connection to one MCP server, as a statechart: connecting (transport up and the MCP
// initialize handshake) → initializing (the server's tool list) → ready, where tool calls run
// as child actors. A transport that drops sends the connection to reconnecting, whose actor
// retries on a jittered exponential schedule (Effect's Schedule) up to a limit, then failed —
// a final state the orchestrator sees as an abnormal exit and restarts per its policy.
// Calls in flight when the transport drops fail with a clear error, unless the tool is
// idempotent: then they are sent again once the connection is back. STOP cancels every call
// (the SDK sends notifications/cancelled) and closes the session before the actor ends.
import { assign, emit, enqueueActions, fromCallback, fromPromise, setup, type EventObject } from "xstate";
import { failureOf } from "../core/errors.ts";
import type { McpSessionHandle } from "../core/handles.ts";
import { notProvided } from "./not-provided.ts";

/** The live client session is opaque to the machine (a branded handle): only actors look inside. */
export type { McpSessionHandle };

/** A tool as the server listed it (name, description, inputSchema, annotations …). */
export interface McpTool {
  readonly name: string;
  readonly [key: string]: unknown;
}

export interface McpCall {
  readonly callId: string;
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
  /** Safe to send again after a reconnect (the config lists the tool under idempotentTools). */
  readonly idempotent: boolean;
  readonly timeoutMs?: number;
}

export interface ReconnectPolicy {
  readonly maxAttempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

export interface McpTimeouts {
  /** One connect attempt (transport and initialize), and the tool listing after it. */
  readonly connectMs: number;
  readonly closeMs: number;
}

export interface McpConnectionInput {
  /** The actor's id: the server's name, extended by the orchestrator on restart. */
  readonly id: string;
  /** The server's name in the config. */
  readonly server: string;
  readonly reconnect?: Partial<ReconnectPolicy>;
  readonly timeouts?: Partial<McpTimeouts>;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { maxAttempts: 5, baseMs: 200, maxMs: 10_000 };
const DEFAULT_TIMEOUTS: McpTimeouts = { connectMs: 30_000, closeMs: 5_000 };

export interface McpFailure {
  readonly stage: "connect" | "reconnect";
  readonly code: string;
  readonly message: string;
  /**
   * Trying again cannot help (no such program, refused credentials): the supervisor does not
   * restart the actor, as OTP does not restart a transient child that exits with `shutdown`.
   */
  readonly permanent: boolean;
}

export type McpConnectionOutput = { readonly outcome: "normal"; readonly id: string } | { readonly outcome: "failed"; readonly id: string; readonly failure: McpFailure };

export type McpConnectionEvent =
  | { type: "CALL"; call: McpCall }
  | { type: "CANCEL"; callId: string }
  | { type: "STOP" }
  | { type: "TRANSPORT.CLOSED"; reason: string }
  | { type: "TOOLS.CHANGED" }
  | { type: "CALL.PROGRESS"; callId: string; progress: number; total?: number; message?: string }
  | { type: "CALL.RESULT"; callId: string; result: unknown }
  | { type: "CALL.FAILED"; callId: string; code: string; message: string }
  | { type: "RECONNECT.ATTEMPT"; attempt: number; error: string; delayMs: number }
  | { type: "RECONNECT.DONE"; session: McpSessionHandle; tools: readonly McpTool[] }
  | { type: "RECONNECT.GAVE_UP"; attempts: number; error: string; permanent: boolean };

export type McpConnectionEmitted =
  | { type: "call.progress"; callId: string; progress: number; total?: number; message?: string }
  | { type: "call.result"; callId: string; result: unknown }
  | { type: "call.failed"; callId: string; code: string; message: string }
  | { type: "tools.changed"; tools: readonly McpTool[] };

interface McpConnectionContext {
  readonly id: string;
  readonly server: string;
  readonly reconnect: ReconnectPolicy;
  readonly timeouts: McpTimeouts;
  session: McpSessionHandle | null;
  tools: readonly McpTool[];
  /** Calls sent to the server and not yet answered, by callId. */
  calls: Readonly<Record<string, McpCall>>;
  /** Calls waiting for the connection to be ready. */
  queued: readonly McpCall[];
  /** Reconnect attempts since the connection was last ready. */
  attempt: number;
  lastError: string | null;
  failure: McpFailure | null;
}

/** Errors a retry cannot fix (no such program, refused credentials, a protocol mismatch). */
export interface ConnectError {
  readonly code: string;
  readonly message: string;
  readonly fatal?: boolean;
}

const callActorId = (callId: string) => `call-${callId}`;

export const mcpConnectionMachine = setup({
  types: {
    context: {} as McpConnectionContext,
    events: {} as McpConnectionEvent,
    input: {} as McpConnectionInput,
    output: {} as McpConnectionOutput,
    emitted: {} as McpConnectionEmitted,
  },
  actors: {
    /** Opens the transport and runs the initialize handshake; cleans up after itself if stopped. */
    connect: fromPromise<McpSessionHandle, { server: string }>(notProvided("mcp-connection", "connect")),
    /** tools/list, every page. */
    listTools: fromPromise<McpTool[], { session: McpSessionHandle }>(notProvided("mcp-connection", "listTools")),
    /**
     * Closes the old session, then retries connect and tools/list together on a backoff
     * schedule (a server that accepts the connection but fails the listing is not back):
     * RECONNECT.ATTEMPT*, then RECONNECT.DONE or RECONNECT.GAVE_UP.
     */
    reconnect: fromCallback<EventObject, { server: string; session: McpSessionHandle | null; policy: ReconnectPolicy; attempt: number; connectMs: number }>(
      notProvided("mcp-connection", "reconnect"),
    ),
    /** Watches the live session: TRANSPORT.CLOSED, TOOLS.CHANGED; forwards server log messages. */
    watch: fromCallback<EventObject, { session: McpSessionHandle; server: string }>(notProvided("mcp-connection", "watch")),
    /** One tools/call: CALL.PROGRESS*, then CALL.RESULT or CALL.FAILED. Stopping it cancels the request. */
    callTool: fromCallback<EventObject, { session: McpSessionHandle; call: McpCall }>(notProvided("mcp-connection", "callTool")),
    close: fromPromise<void, { session: McpSessionHandle | null }>(notProvided("mcp-connection", "close")),
  },
  actions: {
    queue: assign({ queued: ({ context, event }) => [...context.queued, (event as Extract<McpConnectionEvent, { type: "CALL" }>).call] }),
    dispatch: enqueueActions(({ context, event, enqueue }) => {
      // Entering ready: everything that waited goes out now; a CALL in ready goes out at once.
      const calls = event.type === "CALL" ? [event.call] : context.queued;
      for (const call of calls) {
        enqueue.spawnChild("callTool", { id: callActorId(call.callId), input: { session: context.session!, call } });
      }
      enqueue.assign({
        calls: { ...context.calls, ...Object.fromEntries(calls.map((c) => [c.callId, c])) },
        queued: event.type === "CALL" ? context.queued : [],
      });
    }),
    /** The transport is gone: idempotent calls wait for the next session, the rest fail. */
    dropInFlight: enqueueActions(({ context, event, enqueue }) => {
      const reason = event.type === "TRANSPORT.CLOSED" ? event.reason : "the connection was lost";
      const retry: McpCall[] = [];
      for (const call of Object.values(context.calls)) {
        enqueue.stopChild(callActorId(call.callId));
        if (call.idempotent) retry.push(call);
        else {
          enqueue.emit({
            type: "call.failed",
            callId: call.callId,
            code: "ECONNLOST",
            message: `the connection to MCP server ${context.server} was lost during ${call.tool} (${reason}); the tool may or may not have run`,
          });
        }
      }
      // The session stays in context: the reconnect actor closes what is left of it first.
      enqueue.assign({ calls: {}, queued: [...retry, ...context.queued], lastError: reason });
    }),
    /** The actor is ending: every call in flight or waiting is cancelled and told so. */
    cancelAll: enqueueActions(({ context, enqueue }, params: { code: string; message: string }) => {
      for (const call of Object.values(context.calls)) enqueue.stopChild(callActorId(call.callId));
      for (const call of [...Object.values(context.calls), ...context.queued]) {
        enqueue.emit({ type: "call.failed", callId: call.callId, code: params.code, message: `${call.tool} on MCP server ${context.server}: ${params.message}` });
      }
      enqueue.assign({ calls: {}, queued: [] });
    }),
    failPermanently: assign({
      failure: (_, params: ConnectError) => ({ stage: "connect" as const, code: params.code, message: params.message, permanent: true }),
    }),
    settle: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "CALL.RESULT" && event.type !== "CALL.FAILED") return;
      if (!context.calls[event.callId]) return; // cancelled meanwhile: its answer is not wanted
      const { [event.callId]: _, ...rest } = context.calls;
      enqueue.assign({ calls: rest });
      enqueue.stopChild(callActorId(event.callId));
      if (event.type === "CALL.RESULT") enqueue.emit({ type: "call.result", callId: event.callId, result: event.result });
      else enqueue.emit({ type: "call.failed", callId: event.callId, code: event.code, message: event.message });
    }),
    cancelOne: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "CANCEL") return;
      const call = context.calls[event.callId] ?? context.queued.find((c) => c.callId === event.callId);
      if (!call) return;
      if (context.calls[event.callId]) enqueue.stopChild(callActorId(event.callId)); // the SDK sends notifications/cancelled
      const { [event.callId]: _, ...rest } = context.calls;
      enqueue.assign({ calls: rest, queued: context.queued.filter((c) => c.callId !== event.callId) });
      enqueue.emit({ type: "call.failed", callId: event.callId, code: "ECANCELED", message: `${call.tool} on MCP server ${context.server} was cancelled` });
    }),
  },
  guards: {
    fatal: ({ event }) => failureOf((event as { error?: unknown }).error).fatal === true,
  },
  delays: {
    connectTimeout: ({ context }) => context.timeouts.connectMs,
    closeTimeout: ({ context }) => context.timeouts.closeMs,
  },
}).createMachine({
  id: "mcpConnection",
  context: ({ input }) => ({
    id: input.id,
    server: input.server,
    reconnect: { ...DEFAULT_RECONNECT, ...input.reconnect },
    timeouts: { ...DEFAULT_TIMEOUTS, ...input.timeouts },
    session: null,
    tools: [],
    calls: {},
    queued: [],
    attempt: 0,
    lastError: null,
    failure: null,
  }),
  initial: "connecting",
  on: {
    // Answers of calls already given up on (the transport dropped, or the call was cancelled).
    "CALL.PROGRESS": {},
    "CALL.RESULT": {},
    "CALL.FAILED": {},
  },
  states: {
    connecting: {
      invoke: {
        id: "connect",
        src: "connect",
        input: ({ context }) => ({ server: context.server }),
        onDone: { target: "initializing", actions: assign({ session: ({ event }) => event.output }) },
        onError: [
          { guard: "fatal", target: "failed", actions: { type: "failPermanently", params: ({ event }) => failureOf(event.error) } },
          { target: "reconnecting", actions: assign({ lastError: ({ event }) => failureOf(event.error).message }) },
        ],
      },
      after: {
        connectTimeout: {
          target: "reconnecting",
          actions: assign({ lastError: ({ context }) => `connecting took longer than ${context.timeouts.connectMs} ms` }),
        },
      },
      on: { CALL: { actions: "queue" }, CANCEL: { actions: "cancelOne" }, STOP: "closing" },
    },
    initializing: {
      invoke: {
        id: "listTools",
        src: "listTools",
        input: ({ context }) => ({ session: context.session! }),
        onDone: { target: "ready", actions: assign({ tools: ({ event }) => event.output, attempt: 0, lastError: null }) },
        onError: [
          { guard: "fatal", target: "failed", actions: { type: "failPermanently", params: ({ event }) => failureOf(event.error) } },
          { target: "reconnecting", actions: assign({ lastError: ({ event }) => `listing tools failed: ${failureOf(event.error).message}` }) },
        ],
      },
      after: {
        connectTimeout: {
          target: "reconnecting",
          actions: assign({ lastError: ({ context }) => `listing tools took longer than ${context.timeouts.connectMs} ms` }),
        },
      },
      on: { CALL: { actions: "queue" }, CANCEL: { actions: "cancelOne" }, STOP: "closing" },
    },
    ready: {
      entry: ["dispatch", emit(({ context }) => ({ type: "tools.changed" as const, tools: context.tools }))],
      invoke: { id: "watch", src: "watch", input: ({ context }) => ({ session: context.session!, server: context.server }) },
      on: {
        CALL: { actions: "dispatch" },
        CANCEL: { actions: "cancelOne" },
        "CALL.PROGRESS": {
          actions: emit(({ event }) => ({
            type: "call.progress" as const,
            callId: event.callId,
            progress: event.progress,
            ...(event.total !== undefined && { total: event.total }),
            ...(event.message !== undefined && { message: event.message }),
          })),
        },
        "CALL.RESULT": { actions: "settle" },
        "CALL.FAILED": { actions: "settle" },
        "TRANSPORT.CLOSED": { target: "reconnecting", actions: "dropInFlight" },
        STOP: "closing",
      },
      initial: "idle",
      states: {
        idle: { on: { "TOOLS.CHANGED": "refreshing" } },
        refreshing: {
          invoke: {
            id: "refreshTools",
            src: "listTools",
            input: ({ context }) => ({ session: context.session! }),
            onDone: {
              target: "idle",
              actions: [assign({ tools: ({ event }) => event.output }), emit(({ event }) => ({ type: "tools.changed" as const, tools: event.output }))],
            },
            // The old list stays: calls can go on; the next list_changed tries again.
            onError: { target: "idle", actions: assign({ lastError: ({ event }) => `refreshing tools failed: ${failureOf(event.error).message}` }) },
          },
          on: { "TOOLS.CHANGED": { target: "refreshing", reenter: true } },
        },
      },
    },
    reconnecting: {
      invoke: {
        id: "reconnect",
        src: "reconnect",
        input: ({ context }) => ({
          server: context.server,
          session: context.session,
          policy: context.reconnect,
          attempt: context.attempt,
          connectMs: context.timeouts.connectMs,
        }),
      },
      on: {
        "RECONNECT.ATTEMPT": { actions: assign({ attempt: ({ event }) => event.attempt, lastError: ({ event }) => event.error }) },
        "RECONNECT.DONE": {
          target: "ready",
          actions: assign({ session: ({ event }) => event.session, tools: ({ event }) => event.tools, attempt: 0, lastError: null }),
        },
        "RECONNECT.GAVE_UP": {
          target: "failed",
          actions: assign({
            failure: ({ context, event }) => ({
              stage: "reconnect" as const,
              code: "EUNREACHABLE",
              message: event.permanent ? event.error : `MCP server ${context.server} is unreachable after ${event.attempts} attempts: ${event.error}`,
              permanent: event.permanent,
            }),
          }),
        },
        CALL: { actions: "queue" },
        CANCEL: { actions: "cancelOne" },
        STOP: "closing",
      },
    },
    closing: {
      entry: { type: "cancelAll", params: { code: "ECANCELED", message: "cancelled: the connection is closing" } },
      invoke: {
        id: "close",
        src: "close",
        input: ({ context }) => ({ session: context.session }),
        onDone: "closed",
        onError: "closed",
      },
      after: { closeTimeout: "closed" },
      // Nothing new is taken once closing.
      on: { CALL: { actions: emit(({ event }) => ({ type: "call.failed" as const, callId: event.call.callId, code: "ECANCELED", message: "the connection is closing" })) } },
    },
    closed: { type: "final" },
    failed: {
      type: "final",
      entry: enqueueActions(({ context, enqueue }) => {
        enqueue({ type: "cancelAll", params: { code: "EUNREACHABLE", message: context.failure?.message ?? "the connection failed" } });
      }),
    },
  },
  output: ({ context }) => (context.failure ? { outcome: "failed", id: context.id, failure: context.failure } : { outcome: "normal", id: context.id }),
});

export type McpConnectionMachine = typeof mcpConnectionMachine;
