// The inspector page: the actor tree, the selected actor's chart, log and context, and the
// approval queue, kept live over one WebSocket to the hub (src/inspector/inspector-protocol.ts).
// Plain DOM: every redraw updates elements in place, keyed by actor, so a click never lands on an
// element that a message replaced a moment before.
import type { ActorView, Answer, AnswerResult, LogEntry, ProcessInfo, UiMessage } from "../inspector-protocol.ts";
import { cardTitle, renderCard } from "./card.ts";
import { Chart } from "./chart.ts";
import { h, reconcile, setAttr, setText, visibleText } from "./dom.ts";
import {
  actorTree,
  applyMessage,
  clock,
  deepestNode,
  dottedValue,
  duration,
  emptyModel,
  isPendingApproval,
  orderedProcesses,
  pendingApprovals,
  prettyJson,
  timeOfDay,
  valuePaths,
  type ActorEntry,
  type Model,
} from "./model.ts";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

// ── connection ────────────────────────────────────────────────────────────────────────────

// The server writes the token into the page; the URL has it too when the page is opened by hand.
const tokenMeta = document.querySelector<HTMLMetaElement>('meta[name="ironclaw-token"]')?.content ?? "";
const token = tokenMeta && tokenMeta !== "%TOKEN%" ? tokenMeta : (new URLSearchParams(location.search).get("token") ?? "");
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?token=${encodeURIComponent(token)}`;

/** Retry delays double from 250 ms to at most 10 s; "offline" after 15 s without the hub. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 10_000;
const OFFLINE_AFTER_MS = 15_000;
/** An answer with no answer.result after this is reported as unknown, and its card enabled again. */
const ANSWER_TIMEOUT_MS = 20_000;

type Connection = "live" | "reconnecting" | "offline";
const CONNECTION_TEXT: Record<Connection, string> = { live: "live", reconnecting: "reconnecting…", offline: "offline" };

let socket: WebSocket | null = null;
let live = false;
let attempt = 0;
let downSince = Date.now();
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let retryAt = 0;
let lastStateAt: number | null = null;

function connect() {
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  if (socket) return;
  let ws: WebSocket;
  try {
    ws = new WebSocket(wsUrl);
  } catch {
    return down();
  }
  socket = ws;
  ws.onmessage = (ev) => {
    if (socket === ws && typeof ev.data === "string") receive(ev.data);
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    down();
  };
  ws.onerror = () => ws.close();
  showConnection();
}

function down() {
  if (live) downSince = Date.now();
  live = false;
  for (const [requestId, pending] of inflight) {
    clearTimeout(pending.timer);
    inflight.delete(requestId);
    showAnswer(`The connection dropped before the inspector confirmed the ${pending.verb} of ${pending.label}: check the queue once it is back.`, false);
  }
  const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt) * (0.8 + Math.random() * 0.4);
  attempt++;
  retryAt = Date.now() + delay;
  retryTimer = setTimeout(connect, delay);
  showConnection();
  schedule();
}

function retryNow() {
  if (!socket) {
    attempt = 0;
    connect();
  }
}

function connectionState(): Connection {
  if (live) return "live";
  return Date.now() - downSince >= OFFLINE_AFTER_MS ? "offline" : "reconnecting";
}

function showConnection() {
  const el = $("connection");
  const state = connectionState();
  setText(el, CONNECTION_TEXT[state]);
  setAttr(el, "data-state", state);
  const next = retryTimer ? ` Next attempt in ${Math.max(0, Math.ceil((retryAt - Date.now()) / 1000))} s; click to retry now.` : socket && !live ? " Connecting…" : "";
  setAttr(el, "title", live ? "Connected to the inspector hub: changes appear as they happen." : `Not connected to the inspector hub.${next}`);
  document.body.classList.toggle("stale", !live);
  const banner = $("stale");
  banner.hidden = live;
  if (!live) {
    setText(
      banner,
      lastStateAt === null
        ? token
          ? "Waiting for the inspector hub…"
          : "This page's address has no token: open the URL that `ironclaw inspect` printed."
        : `Not connected: this is what the hub reported until ${timeOfDay(lastStateAt)}. Answers are disabled until the connection is back.`,
    );
  }
}

function receive(text: string) {
  let msg: UiMessage;
  try {
    msg = JSON.parse(text) as UiMessage;
  } catch {
    console.warn("inspector: a message that is not JSON", text.slice(0, 200));
    return;
  }
  if (typeof msg !== "object" || msg === null || typeof msg.type !== "string") return;
  if (msg.type === "answer.result") return answerResult(msg);
  // The hub starts every connection with `state`; a change before it would land on stale data.
  if (msg.type !== "state" && !live) return;
  let result: ReturnType<typeof applyMessage>;
  try {
    result = applyMessage(model, msg);
  } catch (error) {
    console.warn("inspector: a message of an unexpected shape", msg.type, error);
    return;
  }
  model = result.model;
  lastStateAt = Date.now();
  if (result.changed === "all") {
    // A fresh picture: whatever the page showed before is gone.
    live = true;
    attempt = 0;
    showConnection();
    if (selected && !model.actors.has(selected)) select(null);
  }
  if (result.changed === "log" && result.key !== selected) return;
  if (result.changed === "machine" && (!selected || model.actors.get(selected)?.actor.machine !== result.key)) return;
  schedule();
}

function send(answer: Answer): boolean {
  if (!socket || !live || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify(answer));
  return true;
}

// ── model and redraw ──────────────────────────────────────────────────────────────────────

let model: Model = emptyModel();
let selected: string | null = null;
let frame = 0;

function schedule() {
  if (frame) return;
  // A hidden tab draws nothing (requestAnimationFrame waits); a timer keeps it current anyway.
  frame = document.hidden ? window.setTimeout(render, 250) : requestAnimationFrame(render);
}

function render() {
  frame = 0;
  renderProcesses();
  renderTree();
  renderApprovals();
  renderDetail();
}

function select(key: string | null) {
  selected = key;
  const hash = key ? `#actor=${encodeURIComponent(key)}` : "";
  if (location.hash !== hash) history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
  schedule();
}

function selectedFromHash(): string | null {
  const m = /^#actor=(.+)$/.exec(location.hash);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
}

// ── top bar: processes ────────────────────────────────────────────────────────────────────

const processLabel = (p: ProcessInfo) => `${p.command} · pid ${p.pid}`;

function renderProcesses() {
  const box = $("processes");
  const processes = orderedProcesses(model);
  const chips = processes.map((p) =>
    h(
      "span",
      {
        class: `proc-chip ${p.connected ? "connected" : "gone"}`,
        "data-testid": "process",
        "data-process-id": p.id,
        "data-connected": String(p.connected),
        title: `${p.cwd}\nconnected ${timeOfDay(p.connectedAt)}`,
      },
      h("span", { class: "dot" }),
      h("b", {}, p.command),
      h("span", { class: "muted" }, ` pid ${p.pid}`),
      h("span", { class: "cwd" }, visibleText(p.cwd)),
      p.connected ? null : h("span", { class: "gone-label" }, "gone"),
    ),
  );
  if (chips.length === 0) chips.push(h("span", { class: "muted" }, "no IronClaw process connected"));
  // Cheap enough to rebuild, but only when something shown changed (keeps hover tooltips steady).
  const signature = JSON.stringify(processes);
  if (box.dataset.signature !== signature) {
    box.dataset.signature = signature;
    box.replaceChildren(...chips);
  }
}

// ── actor tree ────────────────────────────────────────────────────────────────────────────

interface Row {
  el: HTMLElement;
  indent: HTMLElement;
  name: HTMLElement;
  machine: HTMLElement;
  state: HTMLElement;
  badge: HTMLElement;
  flag: HTMLElement;
}
const rows = new Map<string, Row>();
const groups = new Map<string, { el: HTMLElement; head: HTMLElement; list: HTMLElement }>();

function makeRow(key: string): Row {
  const indent = h("span", { class: "indent" });
  const name = h("span", { class: "name" });
  const machine = h("span", { class: "machine" });
  const state = h("span", { class: "state" });
  const badge = h("span", { class: "badge" });
  const flag = h("span", { class: "flag", title: "waiting for your approval" }, "approval");
  const el = h(
    "div",
    { class: "row", role: "treeitem", tabindex: "-1", "data-testid": "actor", "data-actor-key": key, onclick: () => select(key) },
    indent,
    h("div", { class: "row-main" }, h("div", { class: "row-line" }, name, flag, badge), h("div", { class: "row-line sub" }, machine, h("span", { class: "arrow" }, "›"), state)),
  );
  return { el, indent, name, machine, state, badge, flag };
}

function updateRow(row: Row, entry: ActorEntry, depth: number) {
  const a = entry.actor;
  const value = dottedValue(a);
  setAttr(row.el, "data-name", a.name);
  setAttr(row.el, "data-machine", a.machine);
  setAttr(row.el, "data-state", deepestNode(a));
  setAttr(row.el, "data-value", value);
  setAttr(row.el, "data-status", a.status);
  setAttr(row.el, "data-approval", isPendingApproval(entry) ? a.approval!.actionHash : null);
  setAttr(row.el, "aria-selected", String(entry.key === selected));
  setAttr(row.el, "title", `${entry.key}${a.systemId ? ` (system id ${a.systemId})` : ""}`);
  row.el.classList.toggle("selected", entry.key === selected);
  row.el.classList.toggle("ended", a.status !== "active");
  row.indent.style.width = `${depth * 16}px`;
  setText(row.name, a.name);
  setText(row.machine, a.machine);
  setText(row.state, value || deepestNode(a) || "—");
  setText(row.badge, a.status);
  setAttr(row.badge, "class", `badge status-${a.status}`);
  row.flag.hidden = !isPendingApproval(entry);
}

function renderTree() {
  const tree = $("tree");
  const showEnded = $<HTMLInputElement>("show-ended").checked;
  const filter = $<HTMLInputElement>("filter").value.trim().toLowerCase();
  const seen = new Set<string>();
  const groupEls: HTMLElement[] = [];
  const processes = orderedProcesses(model);
  // Actors whose process the hub has not described (yet) still appear, under their process id.
  const known = new Set(processes.map((p) => p.id));
  const orphans = [...new Set([...model.actors.values()].map((e) => e.process))].filter((p) => !known.has(p));
  for (const pid of [...processes.map((p) => p.id), ...orphans]) {
    const info = model.processes.get(pid);
    let group = groups.get(pid);
    if (!group) {
      const head = h("div", { class: "group-head", "data-testid": "process-group", "data-process-id": pid });
      const list = h("div", { class: "group-list", role: "group" });
      group = { el: h("div", { class: "group" }, head, list), head, list };
      groups.set(pid, group);
    }
    const headText = info ? `${processLabel(info)}${info.connected ? "" : " · gone"}` : `process ${pid}`;
    if (group.head.dataset.text !== headText + (info?.cwd ?? "")) {
      group.head.dataset.text = headText + (info?.cwd ?? "");
      group.head.replaceChildren(
        h("span", { class: `dot ${info?.connected ? "connected" : "gone"}` }),
        h("span", { class: "group-title" }, headText),
        info ? h("span", { class: "cwd" }, visibleText(info.cwd)) : null,
      );
    }
    group.el.classList.toggle("gone", info ? !info.connected : false);
    const rowEls: HTMLElement[] = [];
    for (const { entry, depth } of actorTree(model, pid)) {
      const a = entry.actor;
      if (!showEnded && a.status !== "active") continue;
      if (filter && ![a.name, a.machine, a.id, dottedValue(a), a.status].some((s) => s.toLowerCase().includes(filter))) continue;
      let row = rows.get(entry.key);
      if (!row) rows.set(entry.key, (row = makeRow(entry.key)));
      updateRow(row, entry, depth);
      rowEls.push(row.el);
      seen.add(entry.key);
    }
    reconcile(group.list, rowEls);
    if (rowEls.length === 0) group.list.replaceChildren(h("div", { class: "muted empty" }, filter ? "no actor matches" : "no actors"));
    groupEls.push(group.el);
  }
  for (const key of rows.keys()) if (!seen.has(key)) rows.delete(key);
  for (const pid of groups.keys()) if (!model.processes.has(pid) && !orphans.includes(pid)) groups.delete(pid);
  if (groupEls.length === 0) groupEls.push(h("div", { class: "muted empty" }, live ? "Nothing to show yet: no IronClaw process is reporting." : "Waiting for the hub…"));
  reconcile(tree, groupEls);
}

function moveSelection(step: number) {
  const visible = [...$("tree").querySelectorAll<HTMLElement>('[data-testid="actor"]')];
  if (visible.length === 0) return;
  const at = visible.findIndex((el) => el.dataset.actorKey === selected);
  const next = visible[at < 0 ? 0 : Math.max(0, Math.min(visible.length - 1, at + step))]!;
  select(next.dataset.actorKey!);
  next.focus();
}

// ── approvals ─────────────────────────────────────────────────────────────────────────────

interface Card {
  el: HTMLElement;
  time: HTMLElement;
  approve: HTMLButtonElement;
  deny: HTMLButtonElement;
  reason: HTMLInputElement;
  deadlineAt: number;
}
const cards = new Map<string, Card>();
const inflight = new Map<string, { card: string; verb: "approval" | "denial"; label: string; timer: ReturnType<typeof setTimeout> }>();

function requestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function actorLabel(entry: ActorEntry): string {
  const parent = entry.actor.parentId ? model.actors.get(`${entry.process}/${entry.actor.parentId}`)?.actor.name : undefined;
  return parent ? `${parent} › ${entry.actor.name}` : entry.actor.name;
}

/** `actionHash` is the one on the card the human read, never whatever the actor holds by now. */
function answer(entry: ActorEntry, cardKey: string, actionHash: string, kind: "approve" | "deny") {
  const id = requestId();
  const card = cards.get(cardKey);
  const reason = card?.reason.value.trim().slice(0, 500) ?? "";
  const message: Answer =
    kind === "approve"
      ? { type: "approve", requestId: id, process: entry.process, actorId: entry.actor.id, actionHash }
      : { type: "deny", requestId: id, process: entry.process, actorId: entry.actor.id, ...(reason && { reason }) };
  const verb = kind === "approve" ? "approval" : "denial";
  const label = actorLabel(entry);
  if (!send(message)) {
    showAnswer(`Not connected: the ${verb} of ${label} was not sent.`, false);
    return;
  }
  if (card) for (const control of [card.approve, card.deny, card.reason]) control.disabled = true;
  const timer = setTimeout(() => {
    if (!inflight.delete(id)) return;
    showAnswer(`No reply for the ${verb} of ${label}: it may or may not have arrived.`, false);
    schedule();
  }, ANSWER_TIMEOUT_MS);
  inflight.set(id, { card: cardKey, verb, label, timer });
  showAnswer(`Sending the ${verb} of ${label}…`, null, id);
  schedule();
}

function answerResult(result: AnswerResult) {
  const pending = inflight.get(result.requestId);
  if (pending) {
    clearTimeout(pending.timer);
    inflight.delete(result.requestId);
  }
  const what = pending ? `${pending.verb === "approval" ? "Approval" : "Denial"} of ${pending.label}` : "Answer";
  showAnswer(`${what}: ${result.ok ? "delivered" : "refused"}${result.message ? ` — ${result.message}` : ""}`, result.ok, result.requestId);
  schedule();
}

function showAnswer(text: string, ok: boolean | null, id?: string) {
  const el = $("answer");
  el.replaceChildren(visibleText(text));
  setAttr(el, "title", text);
  setAttr(el, "data-ok", ok === null ? null : String(ok));
  setAttr(el, "data-request-id", id ?? null);
  setAttr(el, "data-pending", ok === null ? "true" : null);
  setAttr(el, "class", `answer ${ok === null ? "pending" : ok ? "ok" : "refused"}`);
}

function makeCard(entry: ActorEntry, cardKey: string): Card {
  const approval = entry.actor.approval!;
  const time = h("span", { class: "time-left", "data-testid": "time-left" });
  const approve = h("button", { class: "btn approve", type: "button", "data-testid": "approve", onclick: () => answer(entry, cardKey, approval.actionHash, "approve") }, "Approve");
  const deny = h("button", { class: "btn deny", type: "button", "data-testid": "deny", onclick: () => answer(entry, cardKey, approval.actionHash, "deny") }, "Deny");
  const reason = h("input", {
    class: "reason",
    type: "text",
    maxlength: 500,
    placeholder: "reason (optional, sent with Deny)",
    "data-testid": "deny-reason",
    "aria-label": "reason for denying",
  });
  const info = model.processes.get(entry.process);
  const el = h(
    "article",
    {
      class: "approval",
      "data-testid": "approval",
      "data-actor-key": entry.key,
      "data-action-hash": approval.actionHash,
      "data-kind": String((approval.card as { kind?: unknown } | null)?.kind ?? "unknown"),
    },
    h("header", { class: "approval-head" }, h("span", { class: "approval-title" }, visibleText(cardTitle(approval.card))), time),
    h("div", { class: "summary" }, visibleText(approval.summary)),
    h(
      "div",
      { class: "approval-meta" },
      h("a", { href: `#actor=${encodeURIComponent(entry.key)}`, onclick: (ev: Event) => (ev.preventDefault(), select(entry.key)) }, actorLabel(entry)),
      info ? ` · ${processLabel(info)}` : "",
      " · binds to sha256 ",
      h("code", { title: approval.actionHash }, `${approval.actionHash.slice(0, 16)}…`),
    ),
    renderCard(approval.card),
    h("footer", { class: "approval-actions" }, reason, deny, approve),
  );
  return { el, time, approve, deny, reason, deadlineAt: approval.deadlineAt };
}

function renderApprovals() {
  const pending = pendingApprovals(model);
  const els: HTMLElement[] = [];
  const keep = new Set<string>();
  for (const entry of pending) {
    const cardKey = `${entry.key}#${entry.actor.approval!.actionHash}`;
    let card = cards.get(cardKey);
    if (!card) cards.set(cardKey, (card = makeCard(entry, cardKey)));
    card.deadlineAt = entry.actor.approval!.deadlineAt;
    const busy = [...inflight.values()].some((p) => p.card === cardKey);
    card.approve.disabled = busy || !live;
    card.deny.disabled = busy || !live;
    card.reason.disabled = busy;
    card.el.classList.toggle("busy", busy);
    keep.add(cardKey);
    els.push(card.el);
  }
  for (const key of cards.keys()) if (!keep.has(key)) cards.delete(key);
  reconcile($("approval-list"), els);
  setText($("approval-count"), String(pending.length));
  $("approvals").classList.toggle("has-pending", pending.length > 0);
  $("approvals-empty").hidden = pending.length > 0;
  document.title = pending.length ? `(${pending.length}) IronClaw inspector` : "IronClaw inspector";
  tickApprovals();
}

function tickApprovals() {
  const now = Date.now();
  for (const card of cards.values()) {
    const left = card.deadlineAt - now;
    setText(card.time, left > 0 ? `${clock(left)} left` : "expired");
    setAttr(card.time, "class", `time-left${left <= 0 ? " expired" : left < 30_000 ? " urgent" : ""}`);
  }
}

// ── detail ────────────────────────────────────────────────────────────────────────────────

const chart = new Chart($("chart"));

function field(name: string, value: Node | string): HTMLElement {
  return h("div", { class: "kv" }, h("span", { class: "k" }, name), h("span", { class: "v" }, value));
}

function renderDetail() {
  const entry = selected ? model.actors.get(selected) : undefined;
  const detail = $("detail");
  detail.hidden = false;
  setAttr(detail, "data-actor-key", entry ? entry.key : null);
  $("detail-empty").hidden = !!entry;
  $("detail-body").hidden = !entry;
  if (!entry) {
    chart.show(null, undefined, []);
    return;
  }
  const a = entry.actor;
  renderDetailHead(entry);
  chart.show(a.machine, model.machines.get(a.machine), a.active);
  renderLog(entry.key);
  const context = prettyJson(a.context);
  const ctx = $("context");
  if (ctx.dataset.key !== entry.key || ctx.textContent !== context) {
    ctx.dataset.key = entry.key;
    ctx.replaceChildren(visibleText(context));
  }
}

let runningFor: { el: HTMLElement; since: number } | null = null;

function renderDetailHead(entry: ActorEntry) {
  const a: ActorView = entry.actor;
  const info = model.processes.get(entry.process);
  const paths = valuePaths(a.value);
  const signature = JSON.stringify([entry.key, a.name, a.machine, a.status, a.value, a.active, a.systemId, a.startedAt, a.endedAt, info]);
  const head = $("detail-head");
  if (head.dataset.signature !== signature) {
    head.dataset.signature = signature;
    const since = h("span", {});
    runningFor = a.endedAt === null ? { el: since, since: a.startedAt } : null;
    head.replaceChildren(
      h(
        "div",
        { class: "detail-title" },
        h("h2", {}, a.name),
        h("span", { class: `badge status-${a.status}` }, a.status),
        h("span", { class: "state big", title: `active: ${a.active.join(", ")}` }, paths.join(", ") || deepestNode(a) || "—"),
      ),
      h(
        "div",
        { class: "kvs" },
        field("machine", a.machine),
        a.systemId ? field("system id", a.systemId) : null,
        field("actor", h("code", {}, a.id)),
        field("process", info ? `${processLabel(info)}${info.connected ? "" : " (gone)"}` : entry.process),
        field("started", timeOfDay(a.startedAt)),
        a.endedAt !== null ? field("ended", `${timeOfDay(a.endedAt)} (after ${duration(a.endedAt - a.startedAt)})`) : field("running for", since),
      ),
    );
  }
  if (runningFor) setText(runningFor.el, duration(Date.now() - runningFor.since));
}

let shownLog: { key: string | null; list: LogEntry[] | null; last: LogEntry | undefined } = { key: null, list: null, last: undefined };

function logRow(e: LogEntry): HTMLElement {
  return h(
    "div",
    { class: `log-entry kind-${e.kind}`, "data-testid": "log-entry", "data-kind": e.kind },
    h("span", { class: "log-time" }, timeOfDay(e.at)),
    h("span", { class: "log-kind" }, e.kind === "state" ? "state" : "event"),
    h("span", { class: "log-text" }, visibleText(e.text)),
    e.source ? h("span", { class: "log-source", title: "sent by" }, `from ${e.source}`) : null,
    e.detail ? h("span", { class: "log-detail" }, visibleText(e.detail)) : null,
  );
}

function renderLog(key: string) {
  const list = model.logs.get(key) ?? [];
  const last = list[list.length - 1];
  if (shownLog.key === key && shownLog.list === list && shownLog.last === last) return;
  const box = $("log");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  // Entries are only appended (and the oldest dropped at the cap): add the new ones when the
  // last one shown is still there, else draw the whole list.
  const from = shownLog.key === key && shownLog.list === list && shownLog.last ? list.lastIndexOf(shownLog.last) + 1 : 0;
  if (list.length === 0) box.replaceChildren(h("div", { class: "muted empty" }, "No events yet."));
  else if (from === 0) box.replaceChildren(...list.map(logRow));
  else {
    box.append(...list.slice(from).map(logRow));
    while (box.children.length > list.length) box.firstElementChild!.remove();
  }
  if (from === 0 || atBottom) box.scrollTop = box.scrollHeight;
  shownLog = { key, list, last };

  const states = list.filter((e) => e.kind === "state");
  const chips: HTMLElement[] = [];
  for (const [i, e] of states.entries()) {
    if (i > 0) chips.push(h("span", { class: "arrow" }, "→"));
    chips.push(h("span", { class: `chip${i === states.length - 1 ? " last" : ""}`, title: timeOfDay(e.at) }, visibleText(e.text)));
  }
  if (chips.length === 0) chips.push(h("span", { class: "muted" }, "No state changes recorded yet."));
  $("history").replaceChildren(...chips);
}

// ── wiring ────────────────────────────────────────────────────────────────────────────────

function init() {
  selected = selectedFromHash();
  $("show-ended").addEventListener("change", schedule);
  $("filter").addEventListener("input", schedule);
  $("connection").addEventListener("click", retryNow);
  $("chart-fit").addEventListener("click", () => {
    const whole = $("chart").classList.toggle("whole");
    setText($("chart-fit"), whole ? "fit width" : "whole chart");
  });
  $("tree").addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      moveSelection(ev.key === "ArrowDown" ? 1 : -1);
    }
  });
  window.addEventListener("hashchange", () => {
    const key = selectedFromHash();
    if (key !== selected) select(key);
  });
  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) schedule();
  });
  setInterval(() => {
    tickApprovals();
    showConnection();
    const entry = selected ? model.actors.get(selected) : undefined;
    if (entry) renderDetailHead(entry);
  }, 1000);
  showConnection();
  render();
  connect();
}

init();
