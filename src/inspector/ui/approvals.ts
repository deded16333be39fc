// The approval queue: one card per pending approval (the diff card, card.ts), with Approve and
// Deny, the time left, and the answer line saying what became of the last answer sent.
import type { Answer, AnswerResult } from "../inspector-protocol.ts";
import { cardTitle, renderCard } from "./card.ts";
import { isLive, sendAnswer } from "./connection.ts";
import { byId, h, reconcile, setAttr, setText, visibleText } from "./dom.ts";
import { clock, pendingApprovals, type ActorEntry } from "./model.ts";
import { currentModel, schedule, select } from "./page.ts";
import { processLabel } from "./processes.ts";

/** An answer with no answer.result after this is reported as unknown, and its card enabled again. */
const ANSWER_TIMEOUT_MS = 20_000;

interface Card {
  el: HTMLElement;
  time: HTMLElement;
  approve: HTMLButtonElement;
  deny: HTMLButtonElement;
  reason: HTMLInputElement;
  deadlineAt: number;
}
const cards = new Map<string, Card>();
/** Answers sent and not yet confirmed, by request id. */
const inflight = new Map<string, { card: string; verb: "approval" | "denial"; label: string; timer: ReturnType<typeof setTimeout> }>();

function requestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function actorLabel(entry: ActorEntry): string {
  const parent = entry.actor.parentId ? currentModel().actors.get(`${entry.process}/${entry.actor.parentId}`)?.actor.name : undefined;
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
  if (!sendAnswer(message)) {
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

export function answerResult(result: AnswerResult) {
  const pending = inflight.get(result.requestId);
  if (pending) {
    clearTimeout(pending.timer);
    inflight.delete(result.requestId);
  }
  const what = pending ? `${pending.verb === "approval" ? "Approval" : "Denial"} of ${pending.label}` : "Answer";
  showAnswer(`${what}: ${result.ok ? "delivered" : "refused"}${result.message ? ` — ${result.message}` : ""}`, result.ok, result.requestId);
  schedule();
}

/** The connection dropped: no answer still in flight will be confirmed. */
export function connectionLost() {
  for (const [requestId, pending] of inflight) {
    clearTimeout(pending.timer);
    inflight.delete(requestId);
    showAnswer(`The connection dropped before the inspector confirmed the ${pending.verb} of ${pending.label}: check the queue once it is back.`, false);
  }
}

function showAnswer(text: string, ok: boolean | null, id?: string) {
  const el = byId("answer");
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
  const info = currentModel().processes.get(entry.process);
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

export function renderApprovals() {
  const pending = pendingApprovals(currentModel());
  const live = isLive();
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
  reconcile(byId("approval-list"), els);
  setText(byId("approval-count"), String(pending.length));
  byId("approvals").classList.toggle("has-pending", pending.length > 0);
  byId("approvals-empty").hidden = pending.length > 0;
  document.title = pending.length ? `(${pending.length}) IronClaw inspector` : "IronClaw inspector";
  tickApprovals();
}

/** Each card's time left, once a second. */
export function tickApprovals() {
  const now = Date.now();
  for (const card of cards.values()) {
    const left = card.deadlineAt - now;
    setText(card.time, left > 0 ? `${clock(left)} left` : "expired");
    setAttr(card.time, "class", `time-left${left <= 0 ? " expired" : left < 30_000 ? " urgent" : ""}`);
  }
}
