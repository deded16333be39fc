// One IronClaw process as the inspector sees it: XState's inspection events (every actor
// created, every event received, every snapshot) turned into ActorViews, log lines and the
// same changes in @statelyai/inspect's format; and the one way back in — a human's answer to
// an approval request, delivered to that approval actor as the terminal would deliver it, so
// the machine's own guard (the answer must name the action's hash) decides. What a request asks
// comes from its own events (approval.pending, approval.settled: ./approval-requests.ts).
//
// Only machine actors are shown: promise and callback actors are a machine's effects, already
// visible as the state that invoked them.
import { createInspector } from "@statelyai/inspect";
import type { AnyActorRef, AnyStateMachine, InspectionEvent, Snapshot } from "xstate";
import { nodeName, toMermaid } from "../diagram.ts";
import type { ActorView, Answer, AnswerResult, SourceMessage } from "./inspector-protocol.ts";
import { describePayload, redact } from "./redact.ts";
import { dottedState } from "../../core/state-value.ts";
import { approvalRequests } from "./approval-requests.ts";

export interface InspectionSource {
  /** Pass to createRuntime's `inspect` (or createActor's). */
  readonly inspect: (event: InspectionEvent) => void;
  /**
   * Start sending this process's messages to `listener`: first hello, the charts and every
   * actor it knows (so a hub that connects late still sees the current state), then changes.
   */
  readonly connect: (listener: (message: SourceMessage) => void) => () => void;
  /** Deliver a human's answer to an approval actor of this process. */
  readonly answer: (answer: Answer) => AnswerResult;
}

/** An actor as inspection events carry it: an Actor, whose logic and parent we read. */
type InspectedRef = AnyActorRef & { logic: unknown; _parent?: InspectedRef; systemId?: string };

interface Tracked {
  ref: InspectedRef;
  view: ActorView;
  /** An approval request (it said approval.pending): answers may be sent to it. */
  asks: boolean;
}

/** Ended actors kept so a hub connecting later sees what just happened, not only what runs. */
const KEEP_ENDED = 50;

type MachineLogic = AnyStateMachine & { root: StateNodeLike; config: { id?: string } };
interface StateNodeLike {
  id: string;
  states: Record<string, StateNodeLike>;
}

const isMachine = (logic: unknown): logic is MachineLogic => typeof logic === "object" && logic !== null && "root" in logic && "config" in logic && "transition" in logic;

/** Chart node names of every active state in `value`, outermost first. */
function activeNodes(root: StateNodeLike, value: unknown): string[] {
  const out: string[] = [];
  const walk = (node: StateNodeLike, v: unknown) => {
    if (typeof v === "string") {
      const child = node.states[v];
      if (child) out.push(nodeName(child));
      return;
    }
    if (v && typeof v === "object") {
      for (const [key, sub] of Object.entries(v)) {
        const child = node.states[key];
        if (!child) continue;
        out.push(nodeName(child));
        walk(child, sub);
      }
    }
  };
  walk(root, value);
  return out;
}

export function createInspectionSource(process_: { pid: number; command: string; cwd: string }): InspectionSource {
  const actors = new Map<string, Tracked>();
  const ended: string[] = [];
  const machines = new Map<string, string>();
  const listeners = new Set<(message: SourceMessage) => void>();
  const send = (message: SourceMessage) => {
    for (const l of listeners) l(message);
  };

  // Stately's own converter, so the stream is exactly what its receivers expect; contexts and
  // events pass through the same redaction as ours.
  const stately = createInspector(
    {
      send: (event) => send({ type: "stately", event: { ...event } }),
      start: () => {},
      stop: () => {},
    },
    {
      sanitizeContext: (context) => redact(context) as never,
      sanitizeEvent: (event) => ({ type: event.type, ...(redact(event) as object) }),
      serialize: (event) => {
        const e: Record<string, unknown> = { ...event };
        // An actor event carries the live snapshot (machine and all): send its JSON form, as Stately does.
        if ("snapshot" in e) {
          const snapshot = e.snapshot as { toJSON?: () => unknown } | undefined;
          e.snapshot = redact(typeof snapshot?.toJSON === "function" ? snapshot.toJSON() : snapshot, 1);
        }
        // A machine written with a literal context carries it in its definition too.
        if (typeof e.definition === "string") {
          const { context: _context, ...definition } = JSON.parse(e.definition) as Record<string, unknown>;
          e.definition = JSON.stringify(definition);
        }
        return e as never;
      },
    },
  );

  const update = (t: Tracked, changes: Partial<ActorView>) => {
    t.view = { ...t.view, ...changes };
    send({ type: "actor", actor: t.view });
  };

  // A request's question is shown from when it is made until it is settled.
  const approvals = approvalRequests({
    pending(e, ref) {
      const t = actors.get(ref.sessionId);
      if (!t) return;
      t.asks = true;
      const approval = { actionHash: e.actionHash, summary: e.summary, card: e.card ?? null, deadlineAt: e.deadlineAt };
      if (listeners.size === 0) t.view = { ...t.view, approval };
      else update(t, { approval });
    },
    settled(_, ref) {
      const t = actors.get(ref.sessionId);
      if (!t) return;
      if (listeners.size === 0) t.view = { ...t.view, approval: null };
      else update(t, { approval: null });
    },
  });

  const parentOf = (ref: InspectedRef): string | null => {
    for (let p = ref._parent; p; p = p._parent) {
      if (actors.has(p.sessionId)) return p.sessionId;
    }
    return null;
  };

  /** The parts of a view that come from a snapshot. */
  const viewOf = (ref: InspectedRef, snapshot: { value?: unknown; status: string; context?: unknown }) => ({
    // Assigned after the actor is announced, so read each time.
    systemId: ref.systemId ?? null,
    value: snapshot.value ?? null,
    active: activeNodes((ref.logic as MachineLogic).root, snapshot.value),
    status: snapshot.status as ActorView["status"],
    context: redact(snapshot.context),
  });

  const forgetEnded = (id: string) => {
    ended.push(id);
    while (ended.length > KEEP_ENDED) actors.delete(ended.shift()!);
  };

  const track = (ref: InspectedRef) => {
    const logic = ref.logic as unknown;
    if (!isMachine(logic) || actors.has(ref.sessionId)) return;
    const machineId = logic.config.id ?? logic.id ?? "machine";
    if (!machines.has(machineId)) {
      const mermaid = toMermaid(logic);
      machines.set(machineId, mermaid);
      send({ type: "machine", id: machineId, mermaid });
    }
    const t: Tracked = {
      ref,
      asks: false,
      view: {
        id: ref.sessionId,
        parentId: parentOf(ref),
        // A root actor's id is its session id ("x:0"): its machine says more.
        name: ref.id === ref.sessionId ? machineId : ref.id,
        machine: machineId,
        systemId: null,
        // Announced while it is being made (its snapshot cannot be read yet): its first snapshot follows.
        value: null,
        active: [],
        status: "active",
        context: null,
        startedAt: Date.now(),
        endedAt: null,
        approval: null,
      },
    };
    actors.set(ref.sessionId, t);
    send({ type: "actor", actor: t.view });
    // A stopped actor emits no snapshot: its observers' completion is how we learn it ended.
    // XState completes an actor's observers before it reports the final snapshot, so the end
    // is recorded from here, with the state it ended in.
    const finish = (status: ActorView["status"]) => {
      if (t.view.endedAt !== null) return;
      const last = ref.getSnapshot() as { value?: unknown; status: string; context?: unknown };
      if (listeners.size > 0) {
        const text = dottedState(last.value);
        send({ type: "log", entry: { at: Date.now(), actorId: ref.sessionId, kind: "state", text: `${text} (${status})` } });
        update(t, { ...viewOf(ref, last), status, endedAt: Date.now(), approval: null });
      } else {
        t.view = { ...t.view, value: last.value ?? null, status, endedAt: Date.now(), approval: null };
      }
      forgetEnded(ref.sessionId);
    };
    ref.subscribe({
      complete: () => {
        const s = ref.getSnapshot().status as ActorView["status"];
        finish(s === "active" ? "stopped" : s);
      },
      error: () => finish("error"),
    });
  };

  const onSnapshot = (ref: InspectedRef, snapshot: Snapshot<unknown> & { value?: unknown; context?: unknown }) => {
    const t = actors.get(ref.sessionId);
    if (!t || t.view.endedAt !== null) return;
    const status = snapshot.status as ActorView["status"];
    const changed = JSON.stringify(snapshot.value) !== JSON.stringify(t.view.value) || status !== t.view.status;
    // An ended request asks nothing, whether or not its settling was heard.
    const approval = status === "active" ? t.view.approval : null;
    // Nobody watching: keep only what a later watcher needs (the value, for the state log to
    // start right); the view is rebuilt when one connects.
    if (listeners.size === 0) {
      t.view = { ...t.view, value: snapshot.value ?? null, status, approval, ...(status !== "active" && { endedAt: Date.now() }) };
    } else {
      if (changed)
        send({
          type: "log",
          entry: { at: Date.now(), actorId: ref.sessionId, kind: "state", text: status === "active" ? dottedState(snapshot.value) : `${dottedState(snapshot.value)} (${status})` },
        });
      update(t, { ...viewOf(ref, snapshot), approval, ...(status !== "active" && { endedAt: Date.now() }) });
    }
    if (status !== "active") forgetEnded(ref.sessionId);
  };

  const inspect = (event: InspectionEvent) => {
    switch (event.type) {
      case "@xstate.actor":
        track(event.actorRef as InspectedRef);
        approvals(event);
        break;
      case "@xstate.event": {
        if (listeners.size === 0 || !actors.has(event.actorRef.sessionId)) return;
        const e = event.event as Record<string, unknown> & { type: string };
        const source = event.sourceRef && actors.get(event.sourceRef.sessionId)?.view.name;
        const detail = describePayload(e);
        send({
          type: "log",
          entry: { at: Date.now(), actorId: event.actorRef.sessionId, kind: "event", text: e.type, ...(source && { source }), ...(detail && { detail }) },
        });
        break;
      }
      case "@xstate.snapshot":
        onSnapshot(event.actorRef as InspectedRef, event.snapshot as never);
        break;
      default:
        return;
    }
    if (listeners.size === 0 || !actors.has(event.actorRef.sessionId)) return;
    // Stately's converter turns the snapshot into JSON before its sanitiser sees it, and JSON
    // forgets which objects were class instances (sessions, channels): redact the live one first.
    if (event.type === "@xstate.snapshot") {
      const live = event.snapshot as Snapshot<unknown> & { context?: unknown; toJSON?: () => object };
      const json = typeof live.toJSON === "function" ? live.toJSON() : live;
      stately.inspect.next?.({ ...event, snapshot: { ...json, context: redact(live.context) } as never });
    } else {
      stately.inspect.next?.(event);
    }
  };

  return {
    inspect,
    connect(listener) {
      listener({ type: "hello", pid: process_.pid, command: process_.command, cwd: process_.cwd });
      for (const [id, mermaid] of machines) listener({ type: "machine", id, mermaid });
      for (const t of actors.values()) {
        if (t.view.endedAt === null) t.view = { ...t.view, ...viewOf(t.ref, t.ref.getSnapshot() as never), approval: t.view.approval };
        listener({ type: "actor", actor: t.view });
        // Its history starts where the watcher came in.
        if (t.view.endedAt === null) listener({ type: "log", entry: { at: Date.now(), actorId: t.view.id, kind: "state", text: dottedState(t.view.value) } });
      }
      listeners.add(listener);
      // Stately's view of each live actor, as it is now (its actor event carries the snapshot).
      for (const t of actors.values()) if (t.view.endedAt === null) stately.actor(t.ref, t.ref.getSnapshot());
      return () => listeners.delete(listener);
    },
    answer(answer) {
      const result = (ok: boolean, message: string): AnswerResult => ({ type: "answer.result", requestId: answer.requestId, ok, message });
      const t = actors.get(answer.actorId);
      if (!t?.asks) return result(false, "no such approval request in this process");
      if (!t.view.approval) return result(false, `this request is no longer pending (${dottedState(t.view.value)})`);
      if (answer.type === "deny") {
        t.ref.send({ type: "DENY", reason: answer.reason ?? "denied in the inspector" });
        return result(true, "denied");
      }
      // The machine checks the hash; a mismatch leaves it pending and emits approval.refused.
      let refused: string | null = null;
      const sub = t.ref.on("approval.refused", (e: { reason: string }) => (refused = e.reason));
      t.ref.send({ type: "APPROVE", actionHash: answer.actionHash });
      sub.unsubscribe();
      return refused ? result(false, refused) : result(true, "approved");
    },
  };
}
