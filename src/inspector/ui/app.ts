// The inspector page: the actor tree, the selected actor's chart, log and context, and the
// approval queue, kept live over one WebSocket to the hub (src/inspector/inspector-protocol.ts).
// Plain DOM, one module per panel, each owning what it draws: connection.ts (the connection
// machine and its socket), processes.ts, tree.ts, approvals.ts, detail.ts and log.ts, over the
// model and selection of page.ts. Every redraw updates elements in place, keyed by actor. This
// file only wires them together.
import { answerResult, connectionLost, renderApprovals, tickApprovals } from "./approvals.ts";
import { retryNow, showConnection, startConnection } from "./connection.ts";
import { renderDetail, tickDetail, toggleChartFit } from "./detail.ts";
import { byId } from "./dom.ts";
import { drawWith, schedule, select, selectedFromHash, selectedKey } from "./page.ts";
import { renderProcesses } from "./processes.ts";
import { moveSelection, renderTree } from "./tree.ts";

function render() {
  renderProcesses();
  renderTree();
  renderApprovals();
  renderDetail();
}

function init() {
  drawWith(render);
  byId("show-ended").addEventListener("change", schedule);
  byId("filter").addEventListener("input", schedule);
  byId("connection").addEventListener("click", retryNow);
  byId("chart-fit").addEventListener("click", toggleChartFit);
  byId("tree").addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      moveSelection(ev.key === "ArrowDown" ? 1 : -1);
    }
  });
  window.addEventListener("hashchange", () => {
    const key = selectedFromHash();
    if (key !== selectedKey()) select(key);
  });
  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) schedule();
  });
  setInterval(() => {
    tickApprovals();
    showConnection();
    tickDetail();
  }, 1000);
  showConnection();
  render();
  startConnection({ answerResult, lost: connectionLost });
}

init();
