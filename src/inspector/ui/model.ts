// What the page knows, rebuilt from the hub's messages. No DOM here: this is the part a unit test
// can import. A `state` message replaces the whole model (a reconnecting tab must never show an
// actor the hub has forgotten); every other message changes one thing in place.
import type { ActorView, LogEntry, ProcessInfo, UiMessage } from "../inspector-protocol.ts";
import { escapeCharacter, INVISIBLE, INVISIBLE_OR_BREAK } from "../../../core/terminal-text.ts";

/** Per actor: older entries are dropped so a chatty actor cannot grow the page without bound. */
export const LOG_CAP = 1000;
/** Ended actors kept, as the hub keeps them (inspector-hub.ts): a tab open for weeks stays small. */
export const ENDED_CAP = 300;

export interface ActorEntry {
  readonly key: string;
  readonly process: string;
  readonly actor: ActorView;
}

export interface Model {
  readonly processes: Map<string, ProcessInfo>;
  readonly actors: Map<string, ActorEntry>;
  readonly machines: Map<string, string>;
  /** Keyed like actors; each list oldest first. */
  readonly logs: Map<string, LogEntry[]>;
  /** Keys of ended actors, in the order they ended: the oldest are forgotten first. */
  readonly ended: string[];
}

export const actorKey = (process: string, actorId: string) => `${process}/${actorId}`;

export const emptyModel = (): Model => ({ processes: new Map(), actors: new Map(), machines: new Map(), logs: new Map(), ended: [] });

/** Forgets the oldest ended actors past ENDED_CAP; true if any was. */
function forgetEnded(model: Model): boolean {
  if (model.ended.length <= ENDED_CAP) return false;
  for (const key of model.ended.splice(0, model.ended.length - ENDED_CAP)) {
    model.actors.delete(key);
    model.logs.delete(key);
  }
  return true;
}

type StateMessage = Extract<UiMessage, { type: "state" }>;

export function modelFromState(msg: StateMessage): Model {
  const model = emptyModel();
  for (const p of msg.processes) model.processes.set(p.id, p);
  for (const { process, actor } of msg.actors) {
    const key = actorKey(process, actor.id);
    model.actors.set(key, { key, process, actor });
  }
  for (const [id, source] of Object.entries(msg.machines)) model.machines.set(id, source);
  for (const { process, entry } of msg.log) appendLog(model, process, entry);
  const ended = [...model.actors.values()].filter((e) => e.actor.endedAt !== null).sort((a, b) => a.actor.endedAt! - b.actor.endedAt!);
  model.ended.push(...ended.map((e) => e.key));
  forgetEnded(model);
  return model;
}

function appendLog(model: Model, process: string, entry: LogEntry) {
  const key = actorKey(process, entry.actorId);
  let list = model.logs.get(key);
  if (!list) model.logs.set(key, (list = []));
  list.push(entry);
  if (list.length > LOG_CAP) list.splice(0, list.length - LOG_CAP);
}

/**
 * Applies one message. `state` gives a new model; the others change `model` and return it.
 * What changed is returned too, so the page redraws only what it must.
 */
export function applyMessage(model: Model, msg: UiMessage): { model: Model; changed: "all" | "process" | "machine" | "actor" | "log" | "none"; key?: string } {
  switch (msg.type) {
    case "state":
      return { model: modelFromState(msg), changed: "all" };
    case "process":
      model.processes.set(msg.process.id, msg.process);
      return { model, changed: "process", key: msg.process.id };
    case "machine":
      model.machines.set(msg.id, msg.mermaid);
      return { model, changed: "machine", key: msg.id };
    case "actor": {
      const key = actorKey(msg.process, msg.actor.id);
      const before = model.actors.get(key)?.actor;
      model.actors.set(key, { key, process: msg.process, actor: msg.actor });
      if (msg.actor.endedAt !== null && (before === undefined || before.endedAt === null)) {
        model.ended.push(key);
        if (forgetEnded(model)) return { model, changed: "all" };
      }
      return { model, changed: "actor", key };
    }
    case "log":
      appendLog(model, msg.process, msg.entry);
      return { model, changed: "log", key: actorKey(msg.process, msg.entry.actorId) };
    default:
      return { model, changed: "none" };
  }
}

// ── reading actors ────────────────────────────────────────────────────────────────────────

/** The XState value as dotted leaf paths: "running.busy"; a parallel state gives one per region. */
export function valuePaths(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
  const paths: string[] = [];
  for (const [key, sub] of Object.entries(value as Record<string, unknown>)) {
    const below = valuePaths(sub);
    if (below.length === 0) paths.push(key);
    else for (const p of below) paths.push(`${key}.${p}`);
  }
  return paths;
}

/** The dotted state value shown in the tree and exposed as data-value ("a.x,b.y" when parallel). */
export const dottedValue = (actor: ActorView) => valuePaths(actor.value).join(",");

/** The deepest active chart node (active is outermost first). */
export const deepestNode = (actor: ActorView) => actor.active[actor.active.length - 1] ?? "";

/**
 * The active nodes that have no active descendant: the leaves (several in a parallel state).
 * A descendant's name is its ancestor's name, an underscore, and more (src/diagram.ts nodeName).
 */
export function leafNodes(active: readonly string[]): string[] {
  return active.filter((name) => !active.some((other) => other !== name && other.startsWith(`${name}_`)));
}

export const isPendingApproval = (e: ActorEntry) => e.actor.approval !== null && e.actor.status === "active";

/** Pending approvals, the most urgent first. */
export function pendingApprovals(model: Model): ActorEntry[] {
  return [...model.actors.values()].filter(isPendingApproval).sort((a, b) => a.actor.approval!.deadlineAt - b.actor.approval!.deadlineAt || (a.key < b.key ? -1 : 1));
}

export interface TreeRow {
  readonly entry: ActorEntry;
  readonly depth: number;
}

/**
 * One process's actors in tree order: each parent followed by its children, siblings by start
 * time. An actor whose parent the hub does not know is shown as a root rather than hidden.
 */
export function actorTree(model: Model, process: string): TreeRow[] {
  const mine = [...model.actors.values()].filter((e) => e.process === process);
  const ids = new Set(mine.map((e) => e.actor.id));
  const children = new Map<string | null, ActorEntry[]>();
  for (const e of mine) {
    const parent = e.actor.parentId !== null && ids.has(e.actor.parentId) && e.actor.parentId !== e.actor.id ? e.actor.parentId : null;
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(e);
  }
  for (const list of children.values()) list.sort((a, b) => a.actor.startedAt - b.actor.startedAt || (a.actor.id < b.actor.id ? -1 : 1));
  const rows: TreeRow[] = [];
  const seen = new Set<string>();
  const walk = (parent: string | null, depth: number) => {
    for (const e of children.get(parent) ?? []) {
      if (seen.has(e.actor.id)) continue;
      seen.add(e.actor.id);
      rows.push({ entry: e, depth });
      walk(e.actor.id, depth + 1);
    }
  };
  walk(null, 0);
  // A parent cycle (never sent by a sane hub) would leave actors unreached: show them anyway.
  for (const e of mine) if (!seen.has(e.actor.id)) rows.push({ entry: e, depth: 0 });
  return rows;
}

/** Connected processes first, each group in the order they connected. */
export const orderedProcesses = (model: Model) =>
  [...model.processes.values()].sort((a, b) => Number(b.connected) - Number(a.connected) || a.connectedAt - b.connectedAt || (a.id < b.id ? -1 : 1));

// ── formatting ────────────────────────────────────────────────────────────────────────────

/** "4:05", "1:02:03"; negative durations count as zero. */
export function clock(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** "850 ms", "12.3 s", "4 min 5 s", "2 h 3 min". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Local wall-clock time with milliseconds: "14:03:07.125". */
export function timeOfDay(at: number): string {
  const d = new Date(at);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// Control characters, bidirectional overrides, zero-width and tag characters could make text read
// differently from what it is (Trojan Source): the approver sees each as an escape, exactly as the
// terminal shows it (core/terminal-text.ts, whose characters and escapes these are).
/**
 * `text` cut into plain runs and invisible characters (each shown as its escape); with `breaks`,
 * newlines and tabs are escaped too (text inside a line: a name, a tool, a reason).
 */
export function splitInvisible(text: string, options: { breaks?: boolean } = {}): Array<{ text: string; escaped: boolean }> {
  const parts: Array<{ text: string; escaped: boolean }> = [];
  let last = 0;
  for (const m of text.matchAll(options.breaks ? INVISIBLE_OR_BREAK : INVISIBLE)) {
    if (m.index > last) parts.push({ text: text.slice(last, m.index), escaped: false });
    parts.push({ text: escapeCharacter(m[0]), escaped: true });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last), escaped: false });
  return parts;
}

/** A shell word as the terminal card quotes it. */
export const shellWord = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/** JSON for display: pretty, and never throws (a cyclic or BigInt value cannot come off the wire, but still). */
export function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}
