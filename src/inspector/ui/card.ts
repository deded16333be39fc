// A diff card (src/diff-card.ts DiffCard) drawn as the terminal draws it: files as unified
// patches with added and removed lines coloured, a command with its cwd, env names and network,
// an MCP call with its arguments. The card arrives as unknown JSON, so every field is checked
// before use; anything that does not look like a card is shown as its JSON, never dropped.
import { h, visibleText } from "./dom.ts";
import { prettyJson, shellWord } from "./model.ts";

// The shape of src/diff-card.ts DiffCard. Not imported: that module is Node code (node:crypto),
// and the page is type-checked without Node's types.
type FileStatus = "added" | "modified" | "deleted";
type DiffCard =
  | { kind: "files"; title: string; changes: Array<{ path: string; status: FileStatus; baseHash: string | null; patch: string }> }
  | { kind: "exec"; title: string; argv: string[]; cwd: string; envNames: string[]; network: boolean }
  | { kind: "mcp"; title: string; server: string; tool: string; argumentsJson: string; annotations?: Record<string, boolean> };

const isString = (v: unknown): v is string => typeof v === "string";
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function asCard(u: unknown): DiffCard | null {
  if (!isRecord(u) || !isString(u.title)) return null;
  switch (u.kind) {
    case "files":
      return Array.isArray(u.changes) &&
        u.changes.every((c) => isRecord(c) && isString(c.path) && isString(c.status) && isString(c.patch) && (c.baseHash === null || isString(c.baseHash)))
        ? (u as DiffCard)
        : null;
    case "exec":
      return isStrings(u.argv) && isString(u.cwd) && isStrings(u.envNames) && typeof u.network === "boolean" ? (u as DiffCard) : null;
    case "mcp":
      return isString(u.server) && isString(u.tool) && isString(u.argumentsJson) && (u.annotations === undefined || isRecord(u.annotations)) ? (u as DiffCard) : null;
    default:
      return null;
  }
}

export function cardTitle(u: unknown): string {
  return isRecord(u) && isString(u.title) ? u.title : "Action";
}

function patchLine(line: string): HTMLElement {
  const cls = line.startsWith("+++") || line.startsWith("---") ? "meta" : line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("\\") ? "note" : "ctx";
  return h("span", { class: `line ${cls}` }, visibleText(line), "\n");
}

const field = (name: string, ...value: Array<Node | string>) => h("div", { class: "field" }, h("span", { class: "field-name" }, name), h("span", { class: "field-value" }, ...value));

/** The card's body (its title is drawn by the caller). */
export function renderCard(u: unknown): HTMLElement {
  const card = asCard(u);
  if (!card) return h("div", { class: "card-body", "data-kind": "unknown" }, h("pre", { class: "json" }, visibleText(prettyJson(u))));
  switch (card.kind) {
    case "files": {
      const body = h("div", { class: "card-body", "data-kind": "files" });
      if (card.changes.length === 0) body.append(h("div", { class: "muted" }, "(no changes)"));
      for (const change of card.changes) {
        const lines = change.patch.replace(/\n$/, "").split("\n");
        const added = lines.filter((l) => l.startsWith("+") && !l.startsWith("+++")).length;
        const removed = lines.filter((l) => l.startsWith("-") && !l.startsWith("---")).length;
        body.append(
          h(
            "div",
            { class: "file", "data-testid": "card-file", "data-path": change.path, "data-status": change.status },
            h(
              "div",
              { class: "file-head" },
              h("span", { class: `file-status ${change.status}` }, change.status),
              h("span", { class: "file-path" }, visibleText(change.path)),
              h("span", { class: "file-stat" }, h("span", { class: "n-add" }, `+${added}`), " ", h("span", { class: "n-del" }, `−${removed}`)),
              change.baseHash ? h("span", { class: "file-base", title: `base sha256 ${change.baseHash}` }, `base ${change.baseHash.slice(0, 12)}`) : null,
            ),
            h("pre", { class: "patch" }, ...lines.map(patchLine)),
          ),
        );
      }
      return body;
    }
    case "exec":
      return h(
        "div",
        { class: "card-body fields", "data-kind": "exec" },
        field("command", h("code", {}, visibleText(card.argv.map(shellWord).join(" ")))),
        field("cwd", h("code", {}, visibleText(card.cwd))),
        field("env", card.envNames.length ? h("code", {}, visibleText(card.envNames.join(", "))) : "(none)", card.envNames.length ? h("span", { class: "muted" }, " (values not shown)") : ""),
        field("network", card.network ? h("span", { class: "danger" }, "yes: the command may reach the network") : "no"),
      );
    case "mcp": {
      const hints = Object.entries(card.annotations ?? {});
      return h(
        "div",
        { class: "card-body fields", "data-kind": "mcp" },
        field("server", h("code", {}, visibleText(card.server))),
        field("tool", h("code", {}, visibleText(card.tool))),
        hints.length
          ? field("hints", ...hints.map(([k, v]) => h("span", { class: `hint ${v ? "on" : "off"}` }, visibleText(`${k}: ${String(v)}`))), h("span", { class: "muted" }, " (as the server says)"))
          : null,
        field("arguments"),
        h("pre", { class: "json" }, visibleText(card.argumentsJson)),
      );
    }
  }
}
