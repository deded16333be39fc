// The inspector page's connection to its hub (src/inspector/ui/), as a statechart of two regions
// side by side. `socket`: one WebSocket at a time, `open` while it connects or is connected,
// `closed` while the next attempt waits, on a backoff that doubles from the first retry delay to
// the longest and starts again at the first once the page is live or the user asks to retry now.
// `hub`: what the page may claim. `connecting` until the hub's whole state first arrives, then
// `live`; a socket that closes makes it `reconnecting` (the page keeps the last picture, marked
// stale), and `offline` once it has not been live for OFFLINE_AFTER_MS. The socket itself is an
// effect the page provides (`socket`); only the page reads messages, and it says when the hub's
// state has arrived (HUB.SYNCED), which counts only while a socket is open.
import { assign, emit, fromCallback, setup, stateIn, type EventObject } from "xstate";
import { backoffDelay } from "../core/backoff.ts";
import { notProvided } from "./not-provided.ts";

/** Retry delays double from 250 ms to at most 10 s; "offline" after 15 s without the hub. */
export const RETRY_FIRST_MS = 250;
export const RETRY_MAX_MS = 10_000;
export const OFFLINE_AFTER_MS = 15_000;

export interface InspectorConnectionInput {
  readonly retryFirstMs?: number;
  readonly retryMaxMs?: number;
  readonly offlineAfterMs?: number;
  readonly random?: () => number;
}

export type InspectorConnectionEvent =
  /** From the socket: it closed, or could not be opened. */
  | { type: "SOCKET.CLOSED" }
  /** From the page: the hub's whole state arrived on the open socket. */
  | { type: "HUB.SYNCED" }
  /** From the user (or the browser coming back online): try now rather than when the backoff says. */
  | { type: "RETRY" };

export type InspectorConnectionEmitted =
  /** Was live, is not: answers sent meanwhile may or may not have arrived. */
  | { type: "connection.lost" }
  /** The next attempt is due in `delayMs`. */
  | { type: "retry.scheduled"; delayMs: number };

interface InspectorConnectionContext {
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly offlineAfterMs: number;
  readonly random: () => number;
  /** Attempts that failed since the page was last live (or the user retried). */
  attempt: number;
  retryDelayMs: number;
}

export const inspectorConnectionMachine = setup({
  types: {
    context: {} as InspectorConnectionContext,
    events: {} as InspectorConnectionEvent,
    input: {} as InspectorConnectionInput,
    emitted: {} as InspectorConnectionEmitted,
  },
  actors: {
    /** Opens one WebSocket to the hub and hands its messages to the page; SOCKET.CLOSED when it closes. Stopping it closes the socket. */
    socket: fromCallback<EventObject>(notProvided("inspector-connection", "socket")),
  },
  guards: {
    socketOpen: stateIn({ socket: "open" }),
  },
  delays: {
    retry: ({ context }) => context.retryDelayMs,
    offlineAfter: ({ context }) => context.offlineAfterMs,
  },
}).createMachine({
  id: "inspectorConnection",
  type: "parallel",
  context: ({ input }) => ({
    backoffBaseMs: input.retryFirstMs ?? RETRY_FIRST_MS,
    backoffMaxMs: input.retryMaxMs ?? RETRY_MAX_MS,
    offlineAfterMs: input.offlineAfterMs ?? OFFLINE_AFTER_MS,
    random: input.random ?? Math.random,
    attempt: 0,
    retryDelayMs: 0,
  }),
  states: {
    socket: {
      initial: "open",
      states: {
        open: {
          invoke: { id: "socket", src: "socket" },
          on: { "SOCKET.CLOSED": "closed" },
        },
        closed: {
          entry: [
            assign({ retryDelayMs: ({ context }) => backoffDelay(context, context.attempt, context.random), attempt: ({ context }) => context.attempt + 1 }),
            emit(({ context }) => ({ type: "retry.scheduled" as const, delayMs: context.retryDelayMs })),
          ],
          after: { retry: "open" },
          on: { RETRY: { target: "open", actions: assign({ attempt: 0 }) } },
        },
      },
    },
    hub: {
      initial: "connecting",
      states: {
        connecting: {
          on: { "HUB.SYNCED": { guard: "socketOpen", target: "live" } },
          after: { offlineAfter: "offline" },
        },
        live: {
          entry: assign({ attempt: 0 }),
          on: { "SOCKET.CLOSED": { target: "reconnecting", actions: emit({ type: "connection.lost" as const }) } },
        },
        reconnecting: {
          on: { "HUB.SYNCED": { guard: "socketOpen", target: "live" } },
          after: { offlineAfter: "offline" },
        },
        offline: {
          on: { "HUB.SYNCED": { guard: "socketOpen", target: "live" } },
        },
      },
    },
  },
});

export type InspectorConnectionMachine = typeof inspectorConnectionMachine;
