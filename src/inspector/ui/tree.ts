// The actor tree: each process's actors, nested under their parents, filtered and with ended
// ones shown or not. Rows are kept per actor and updated in place, so a click never lands on a
// row that a message replaced a moment before.
import { byId, h, reconcile, setAttr, setText, visibleText } from "./dom.ts";
import { isLive } from "./connection.ts";
import { actorTree, deepestNode, dottedValue, isPendingApproval, orderedProcesses, type ActorEntry } from "./model.ts";
import { currentModel, select, selectedKey } from "./page.ts";
import { processLabel } from "./processes.ts";

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
  const selected = entry.key === selectedKey();
  setAttr(row.el, "data-name", a.name);
  setAttr(row.el, "data-machine", a.machine);
  setAttr(row.el, "data-state", deepestNode(a));
  setAttr(row.el, "data-value", value);
  setAttr(row.el, "data-status", a.status);
  setAttr(row.el, "data-approval", isPendingApproval(entry) ? a.approval!.actionHash : null);
  setAttr(row.el, "aria-selected", String(selected));
  setAttr(row.el, "title", `${entry.key}${a.systemId ? ` (system id ${a.systemId})` : ""}`);
  row.el.classList.toggle("selected", selected);
  row.el.classList.toggle("ended", a.status !== "active");
  row.indent.style.width = `${depth * 16}px`;
  setText(row.name, a.name);
  setText(row.machine, a.machine);
  setText(row.state, value || deepestNode(a) || "—");
  setText(row.badge, a.status);
  setAttr(row.badge, "class", `badge status-${a.status}`);
  row.flag.hidden = !isPendingApproval(entry);
}

export function renderTree() {
  const model = currentModel();
  const tree = byId("tree");
  const showEnded = byId<HTMLInputElement>("show-ended").checked;
  const filter = byId<HTMLInputElement>("filter").value.trim().toLowerCase();
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
        ...(info ? [h("span", { class: "cwd" }, visibleText(info.cwd))] : []),
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
  if (groupEls.length === 0) groupEls.push(h("div", { class: "muted empty" }, isLive() ? "Nothing to show yet: no IronClaw process is reporting." : "Waiting for the hub…"));
  reconcile(tree, groupEls);
}

/** Arrow keys in the tree: the next or previous visible actor. */
export function moveSelection(step: number) {
  const visible = [...byId("tree").querySelectorAll<HTMLElement>('[data-testid="actor"]')];
  if (visible.length === 0) return;
  const at = visible.findIndex((el) => el.dataset.actorKey === selectedKey());
  const next = visible[at < 0 ? 0 : Math.max(0, Math.min(visible.length - 1, at + step))]!;
  select(next.dataset.actorKey!);
  next.focus();
}
