// The selected actor: its name, status and facts, its statechart with the active states lit
// (chart.ts), its log (log.ts) and its context.
import type { ActorView } from "../inspector-protocol.ts";
import { Chart } from "./chart.ts";
import { byId, h, setAttr, setText, visibleText } from "./dom.ts";
import { renderLog } from "./log.ts";
import { deepestNode, duration, prettyJson, timeOfDay, valuePaths, type ActorEntry } from "./model.ts";
import { currentModel, selectedKey } from "./page.ts";
import { processLabel } from "./processes.ts";

const chart = new Chart(byId("chart"));
/** The "running for" field of a running actor, ticked once a second. */
let runningFor: { el: HTMLElement; since: number } | null = null;

function field(name: string, value: Node | string): HTMLElement {
  return h("div", { class: "kv" }, h("span", { class: "k" }, name), h("span", { class: "v" }, value));
}

const selectedEntry = (): ActorEntry | undefined => {
  const key = selectedKey();
  return key ? currentModel().actors.get(key) : undefined;
};

export function renderDetail() {
  const entry = selectedEntry();
  const detail = byId("detail");
  detail.hidden = false;
  setAttr(detail, "data-actor-key", entry ? entry.key : null);
  byId("detail-empty").hidden = !!entry;
  byId("detail-body").hidden = !entry;
  if (!entry) {
    chart.show(null, undefined, []);
    return;
  }
  const a = entry.actor;
  renderDetailHead(entry);
  chart.show(a.machine, currentModel().machines.get(a.machine), a.active);
  renderLog(entry.key, currentModel().logs.get(entry.key) ?? []);
  const context = prettyJson(a.context);
  const ctx = byId("context");
  if (ctx.dataset.key !== entry.key || ctx.textContent !== context) {
    ctx.dataset.key = entry.key;
    ctx.replaceChildren(visibleText(context));
  }
}

/** Once a second: how long the selected actor has been running. */
export function tickDetail() {
  const entry = selectedEntry();
  if (entry) renderDetailHead(entry);
}

function renderDetailHead(entry: ActorEntry) {
  const a: ActorView = entry.actor;
  const info = currentModel().processes.get(entry.process);
  const paths = valuePaths(a.value);
  const signature = JSON.stringify([entry.key, a.name, a.machine, a.status, a.value, a.active, a.systemId, a.startedAt, a.endedAt, info]);
  const head = byId("detail-head");
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

/** The chart's toggle between fitting the width and the whole chart at its natural size. */
export function toggleChartFit() {
  const whole = byId("chart").classList.toggle("whole");
  setText(byId("chart-fit"), whole ? "fit width" : "whole chart");
}
