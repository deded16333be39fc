// The selected actor's event log (states entered and events received, newest last) and its
// state history as a row of chips. Entries are only appended, so a redraw adds the new ones.
import type { LogEntry } from "../inspector-protocol.ts";
import { byId, h, visibleText } from "./dom.ts";
import { timeOfDay } from "./model.ts";

let shown: { key: string | null; list: LogEntry[] | null; last: LogEntry | undefined } = { key: null, list: null, last: undefined };

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

/** `list`: the log of the actor `key`, oldest first. */
export function renderLog(key: string, list: LogEntry[]) {
  const last = list[list.length - 1];
  if (shown.key === key && shown.list === list && shown.last === last) return;
  const box = byId("log");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  // Entries are only appended (and the oldest dropped at the cap): add the new ones when the
  // last one shown is still there, else draw the whole list.
  const from = shown.key === key && shown.list === list && shown.last ? list.lastIndexOf(shown.last) + 1 : 0;
  if (list.length === 0) box.replaceChildren(h("div", { class: "muted empty" }, "No events yet."));
  else if (from === 0) box.replaceChildren(...list.map(logRow));
  else {
    box.append(...list.slice(from).map(logRow));
    while (box.children.length > list.length) box.firstElementChild!.remove();
  }
  if (from === 0 || atBottom) box.scrollTop = box.scrollHeight;
  shown = { key, list, last };

  const states = list.filter((e) => e.kind === "state");
  const chips: HTMLElement[] = [];
  for (const [i, e] of states.entries()) {
    if (i > 0) chips.push(h("span", { class: "arrow" }, "→"));
    chips.push(h("span", { class: `chip${i === states.length - 1 ? " last" : ""}`, title: timeOfDay(e.at) }, visibleText(e.text)));
  }
  if (chips.length === 0) chips.push(h("span", { class: "muted" }, "No state changes recorded yet."));
  byId("history").replaceChildren(...chips);
}
