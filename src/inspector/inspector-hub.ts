// The inspector's memory: every process that reports to it (sources), every actor they have
// shown, each actor's recent log; and who is watching (browser tabs, Stately receivers). It
// knows nothing of HTTP: the server (inspector-server.ts) feeds it from sockets, and a process
// serving its own inspector feeds it directly. A watcher that connects — or reconnects — gets
// the whole current picture first, then every change, so a tab never shows a stale state.
import { nanoid } from "nanoid";
import type { ActorView, Answer, AnswerResult, LogEntry, ProcessInfo, SourceMessage, UiMessage } from "./inspector-protocol.ts";

/** Lines kept per actor, and ended actors kept in all: enough to see what just happened, bounded for a daemon that runs for weeks. */
const LOG_PER_ACTOR = 200;
const ENDED_ACTORS = 300;
const GONE_PROCESSES = 20;
const ANSWER_TIMEOUT_MS = 10_000;

interface SourceState {
  info: ProcessInfo;
  actors: Map<string, ActorView>;
  logs: Map<string, LogEntry[]>;
  /** Stately's view: the last actor event and last snapshot event of each actor. */
  stately: Map<string, { actor?: Record<string, unknown>; snapshot?: Record<string, unknown> }>;
  deliver: (answer: Answer) => void;
}

export interface SourceHandle {
  readonly processId: string;
  receive(message: SourceMessage): void;
  /** The process has gone: its actors stay visible, marked stopped. */
  close(): void;
}

export interface InspectorHub {
  attachSource(deliver: (answer: Answer) => void): SourceHandle;
  /** A browser tab: gets `state`, then changes. */
  watch(send: (message: UiMessage) => void): () => void;
  /** A @statelyai/inspect receiver: gets every actor and its last snapshot, then changes. */
  watchStately(send: (event: Record<string, unknown>) => void): () => void;
  /** A human's answer, routed to the process that owns the approval actor. */
  answer(answer: Answer): Promise<AnswerResult>;
  state(): Extract<UiMessage, { type: "state" }>;
}

export function createInspectorHub(): InspectorHub {
  const sources = new Map<string, SourceState>();
  const endedOrder: Array<[string, string]> = [];
  const machines = new Map<string, string>();
  const watchers = new Set<(message: UiMessage) => void>();
  const statelyWatchers = new Set<(event: Record<string, unknown>) => void>();
  /** Answers on their way to a process, by request id: resolved by its reply, its end, or a timeout. */
  const pending = new Map<string, { processId: string; resolve: (result: AnswerResult) => void }>();

  const broadcast = (message: UiMessage) => {
    for (const w of watchers) w(message);
  };

  // Stately's ids are per process; prefixing them keeps two processes' actors apart.
  const statelyIds = (processId: string, event: Record<string, unknown>) => {
    const out = { ...event };
    for (const key of ["sessionId", "rootId", "parentId", "sourceId"] as const) {
      if (typeof out[key] === "string") out[key] = `${processId}:${out[key]}`;
    }
    return out;
  };

  const prune = () => {
    while (endedOrder.length > ENDED_ACTORS) {
      const [processId, actorId] = endedOrder.shift()!;
      const s = sources.get(processId);
      s?.actors.delete(actorId);
      s?.logs.delete(actorId);
      s?.stately.delete(actorId);
    }
    const gone = [...sources.values()].filter((s) => !s.info.connected);
    for (const s of gone.slice(0, Math.max(0, gone.length - GONE_PROCESSES))) sources.delete(s.info.id);
  };

  const receive = (s: SourceState, message: SourceMessage) => {
    switch (message.type) {
      case "hello":
        s.info = { ...s.info, pid: message.pid, command: message.command, cwd: message.cwd };
        broadcast({ type: "process", process: s.info });
        return;
      case "machine":
        if (machines.get(message.id) === message.mermaid) return;
        machines.set(message.id, message.mermaid);
        broadcast(message);
        return;
      case "actor": {
        const before = s.actors.get(message.actor.id);
        s.actors.set(message.actor.id, message.actor);
        if (message.actor.endedAt !== null && before?.endedAt == null) {
          endedOrder.push([s.info.id, message.actor.id]);
          prune();
        }
        broadcast({ type: "actor", process: s.info.id, actor: message.actor });
        return;
      }
      case "log": {
        const log = s.logs.get(message.entry.actorId) ?? [];
        log.push(message.entry);
        if (log.length > LOG_PER_ACTOR) log.splice(0, log.length - LOG_PER_ACTOR);
        s.logs.set(message.entry.actorId, log);
        broadcast({ type: "log", process: s.info.id, entry: message.entry });
        return;
      }
      case "stately": {
        const id = message.event.sessionId;
        if (typeof id !== "string") return;
        const entry = s.stately.get(id) ?? {};
        if (message.event.type === "@xstate.actor") entry.actor = message.event;
        if (message.event.type === "@xstate.snapshot") entry.snapshot = message.event;
        s.stately.set(id, entry);
        const event = statelyIds(s.info.id, message.event);
        for (const w of statelyWatchers) w(event);
        return;
      }
      case "answer.result": {
        const waiting = pending.get(message.requestId);
        if (waiting?.processId !== s.info.id) return; // not this process's to answer
        pending.delete(message.requestId);
        waiting.resolve(message);
        return;
      }
    }
  };

  return {
    attachSource(deliver) {
      const info: ProcessInfo = { id: `p${nanoid(8).replace(/[^A-Za-z0-9]/g, "0")}`, pid: 0, command: "?", cwd: "", connectedAt: Date.now(), connected: true };
      const s: SourceState = { info, actors: new Map(), logs: new Map(), stately: new Map(), deliver };
      sources.set(info.id, s);
      return {
        processId: info.id,
        receive: (message) => receive(s, message),
        close() {
          if (!s.info.connected) return;
          s.info = { ...s.info, connected: false };
          broadcast({ type: "process", process: s.info });
          for (const [requestId, waiting] of pending) {
            if (waiting.processId !== s.info.id) continue;
            pending.delete(requestId);
            waiting.resolve({ type: "answer.result", requestId, ok: false, message: "that process has ended" });
          }
          const now = Date.now();
          for (const actor of s.actors.values()) {
            if (actor.endedAt !== null) continue;
            const stopped: ActorView = { ...actor, status: "stopped", endedAt: now, approval: null };
            s.actors.set(actor.id, stopped);
            endedOrder.push([s.info.id, actor.id]);
            broadcast({ type: "actor", process: s.info.id, actor: stopped });
          }
          prune();
        },
      };
    },
    watch(send) {
      send(this.state());
      watchers.add(send);
      return () => watchers.delete(send);
    },
    watchStately(send) {
      for (const s of sources.values()) {
        for (const e of s.stately.values()) if (e.actor) send(statelyIds(s.info.id, e.actor));
        for (const e of s.stately.values()) if (e.snapshot) send(statelyIds(s.info.id, e.snapshot));
      }
      statelyWatchers.add(send);
      return () => statelyWatchers.delete(send);
    },
    answer(answer) {
      const s = sources.get(answer.process);
      const fail = (message: string): Promise<AnswerResult> => Promise.resolve({ type: "answer.result", requestId: answer.requestId, ok: false, message });
      if (!s) return fail("no such process");
      if (!s.info.connected) return fail("that process has ended");
      if (pending.has(answer.requestId)) return fail("that request id is already in use");
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(answer.requestId);
          resolve({ type: "answer.result", requestId: answer.requestId, ok: false, message: "the process did not answer" });
        }, ANSWER_TIMEOUT_MS);
        pending.set(answer.requestId, {
          processId: s.info.id,
          resolve: (result) => {
            clearTimeout(timer);
            resolve(result);
          },
        });
        s.deliver(answer);
      });
    },
    state() {
      const all = [...sources.values()];
      return {
        type: "state",
        processes: all.map((s) => s.info),
        actors: all.flatMap((s) => [...s.actors.values()].map((actor) => ({ process: s.info.id, actor }))),
        machines: Object.fromEntries(machines),
        log: all.flatMap((s) => [...s.logs.values()].flatMap((entries) => entries.map((entry) => ({ process: s.info.id, entry })))),
      };
    },
  };
}
