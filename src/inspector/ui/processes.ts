// The top bar's processes: one chip per IronClaw process the hub has heard from, gone ones marked.
import type { ProcessInfo } from "../inspector-protocol.ts";
import { byId, h, visibleText } from "./dom.ts";
import { orderedProcesses, timeOfDay } from "./model.ts";
import { currentModel } from "./page.ts";

export const processLabel = (p: ProcessInfo) => `${p.command} · pid ${p.pid}`;

export function renderProcesses() {
  const box = byId("processes");
  const processes = orderedProcesses(currentModel());
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
