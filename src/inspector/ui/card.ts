// A diff card (core/card-types.ts DiffCard) drawn as the terminal draws it. Files: a summary of
// every file first (files that run code on the host flagged, with why), the changes that will not
// be applied, then each file's diff (hunks with added and removed lines coloured; binary and
// too-large files by size and SHA-256), and a note when the card was summarised. A command with
// its cwd, env names and network; an MCP call with its arguments. The card arrives as unknown
// JSON, so every field is checked before use; anything that does not look like a card is shown
// as its JSON, never dropped. Names are shown on one line: a newline in one is an escape.
import type { CardFile, DiffCard } from "../../../core/card-types.ts";
import { h, visibleText } from "./dom.ts";
import { prettyJson, shellWord, splitInvisible } from "./model.ts";

const isString = (v: unknown): v is string => typeof v === "string";
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const STATUSES: readonly unknown[] = ["added", "modified", "deleted", "renamed", "mode"];

const isSide = (v: unknown) => v === null || (isRecord(v) && isNumber(v.size) && isString(v.sha256) && (v.mode === null || isNumber(v.mode)));
function isDiff(v: unknown): boolean {
  if (!isRecord(v)) return false;
  switch (v.kind) {
    case "text":
      return isString(v.patch);
    case "too-large":
      return isNumber(v.beforeLines) && isNumber(v.afterLines);
    case "same":
    case "binary":
    case "omitted":
      return true;
    default:
      return false;
  }
}
const isFile = (f: unknown) =>
  isRecord(f) &&
  isString(f.path) &&
  STATUSES.includes(f.status) &&
  (f.from === undefined || isString(f.from)) &&
  isSide(f.before) &&
  isSide(f.after) &&
  (f.before !== null || f.after !== null) &&
  (f.baseHash === null || isString(f.baseHash)) &&
  (f.runsCode === undefined || isStrings(f.runsCode)) &&
  isDiff(f.diff);
const isSkipped = (s: unknown) => isRecord(s) && isString(s.path) && isString(s.kind) && isString(s.why);

function asCard(u: unknown): DiffCard | null {
  if (!isRecord(u) || !isString(u.title)) return null;
  switch (u.kind) {
    case "files":
      return Array.isArray(u.files) &&
        u.files.every(isFile) &&
        Array.isArray(u.notApplied) &&
        u.notApplied.every(isSkipped) &&
        (u.notAppliedHidden === undefined || isNumber(u.notAppliedHidden)) &&
        (u.summarised === undefined || (isRecord(u.summarised) && isNumber(u.summarised.omitted) && isString(u.summarised.why))) &&
        (u.fullDiffFile === undefined || isString(u.fullDiffFile))
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

/** A name (or any untrusted text inside a line) with every control character, newline and tab an escape. */
function oneLineText(text: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  for (const part of splitInvisible(text, { breaks: true })) {
    fragment.append(part.escaped ? h("span", { class: "esc", title: "invisible or control character" }, part.text) : document.createTextNode(part.text));
  }
  return fragment;
}

function patchLine(line: string): HTMLElement {
  const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("\\") ? "note" : "ctx";
  return h("span", { class: `line ${cls}` }, visibleText(line), "\n");
}

const count = (n: number, one: string) => `${n.toLocaleString("en-US")} ${one}${n === 1 ? "" : "s"}`;
const octal = (mode: number) => mode.toString(8).padStart(4, "0");
const executable = (mode: number | null) => mode !== null && (mode & 0o111) !== 0;
// As the terminal's card does (core/card-render.ts): a mode is shown when it changes, when a new
// file is executable, and whenever it is not one of the two usual ones.
const usualMode = (mode: number) => mode === 0o644 || mode === 0o755;

function sizesOf(file: CardFile): string {
  const { before, after } = file;
  const sizes = before && after && file.status === "modified" ? `${before.size.toLocaleString("en-US")} → ${count(after.size, "byte")}` : count((after ?? before)!.size, "byte");
  const modes =
    before && after && before.mode !== null && after.mode !== null && before.mode !== after.mode
      ? `, mode ${octal(before.mode)} → ${octal(after.mode)}`
      : after && after.mode !== null && (!usualMode(after.mode) || (!before && executable(after.mode)))
        ? `, mode ${octal(after.mode)}`
        : "";
  return sizes + modes;
}

const nameOf = (file: CardFile) => h("span", { class: "file-path" }, ...(file.from !== undefined ? [oneLineText(file.from), " → "] : []), oneLineText(file.path));

function hashes(file: CardFile): HTMLElement {
  return h(
    "div",
    { class: "file-hashes" },
    file.before ? h("div", {}, `sha256 before ${file.before.sha256}`) : null,
    file.after ? h("div", {}, `sha256 after  ${file.after.sha256}`) : null,
  );
}

function fileDiff(file: CardFile): HTMLElement | null {
  const { diff } = file;
  if (diff.kind === "same" || diff.kind === "omitted") return null;
  let lines: string[] = [];
  let body: HTMLElement;
  switch (diff.kind) {
    case "binary":
      body = h("div", { class: "file-note" }, `binary (not shown as text): ${sizesOf(file)}`, hashes(file));
      break;
    case "too-large":
      body = h(
        "div",
        { class: "file-note warn" },
        `too large to diff: ${diff.beforeLines.toLocaleString("en-US")} → ${count(diff.afterLines, "line")}, ${sizesOf(file)}`,
        hashes(file),
      );
      break;
    case "text":
      lines = diff.patch.replace(/\n$/, "").split("\n");
      body = h("pre", { class: "patch" }, ...lines.map(patchLine));
  }
  const added = lines.filter((l) => l.startsWith("+")).length;
  const removed = lines.filter((l) => l.startsWith("-")).length;
  return h(
    "div",
    { class: "file", "data-testid": "card-diff", "data-path": file.path },
    h(
      "div",
      { class: "file-head" },
      h("span", { class: `file-status ${file.status}` }, file.status),
      nameOf(file),
      diff.kind === "text" ? h("span", { class: "file-stat" }, h("span", { class: "n-add" }, `+${added}`), " ", h("span", { class: "n-del" }, `−${removed}`)) : null,
      file.baseHash ? h("span", { class: "file-base", title: `base sha256 ${file.baseHash}` }, `base ${file.baseHash.slice(0, 12)}`) : null,
    ),
    body,
  );
}

function filesBody(card: DiffCard & { kind: "files" }): HTMLElement {
  const body = h("div", { class: "card-body", "data-kind": "files" });
  if (card.files.length === 0 && card.notApplied.length === 0) body.append(h("div", { class: "muted" }, "(no changes)"));
  if (card.files.length > 0) {
    body.append(
      h(
        "table",
        { class: "card-summary", "data-testid": "card-summary" },
        h(
          "tbody",
          {},
          ...card.files.map((file) =>
            h(
              "tr",
              { class: file.runsCode?.length ? "runs-code" : "", "data-testid": "card-file", "data-path": file.path, "data-status": file.status },
              h("td", { class: "code-flag", title: file.runsCode?.length ? "runs code on this machine" : null }, file.runsCode?.length ? "!" : ""),
              h("td", {}, h("span", { class: `file-status ${file.status}` }, file.status)),
              h("td", {}, nameOf(file)),
              h("td", { class: "file-size" }, sizesOf(file)),
            ),
          ),
        ),
      ),
    );
  }
  const flagged = card.files.filter((f) => f.runsCode?.length);
  if (flagged.length > 0) {
    body.append(
      h(
        "div",
        { class: "card-section runs-code", "data-testid": "card-runs-code" },
        h("div", { class: "card-section-title" }, "Runs code on this machine (opened, entered, built or installed): check these first"),
        h("ul", {}, ...flagged.flatMap((f) => f.runsCode!.map((reason) => h("li", {}, h("code", {}, oneLineText(f.path)), ": ", oneLineText(reason))))),
      ),
    );
  }
  if (card.notApplied.length > 0 || card.notAppliedHidden) {
    body.append(
      h(
        "div",
        { class: "card-section not-applied", "data-testid": "card-not-applied" },
        h("div", { class: "card-section-title" }, "Not applied (left in the sandbox)"),
        h(
          "ul",
          {},
          ...card.notApplied.map((s) => h("li", {}, h("code", {}, oneLineText(s.path)), " (", oneLineText(s.kind), "): ", oneLineText(s.why))),
          card.notAppliedHidden ? h("li", { class: "muted" }, `and ${count(card.notAppliedHidden, "more change")}, listed in the full diff`) : null,
        ),
      ),
    );
  }
  for (const file of card.files) {
    const diff = fileDiff(file);
    if (diff) body.append(diff);
  }
  if (card.summarised) {
    body.append(
      h(
        "div",
        { class: "card-section summarised", "data-testid": "card-summarised" },
        `Summarised: ${count(card.summarised.omitted, "diff")} not shown (`,
        oneLineText(card.summarised.why),
        ")",
        card.fullDiffFile !== undefined ? h("div", {}, "full diff: ", h("code", {}, oneLineText(card.fullDiffFile))) : null,
      ),
    );
  }
  return body;
}

const field = (name: string, ...value: Array<Node | string>) =>
  h("div", { class: "field" }, h("span", { class: "field-name" }, name), h("span", { class: "field-value" }, ...value));

/** The card's body (its title is drawn by the caller). */
export function renderCard(u: unknown): HTMLElement {
  const card = asCard(u);
  if (!card) return h("div", { class: "card-body", "data-kind": "unknown" }, h("pre", { class: "json" }, visibleText(prettyJson(u))));
  switch (card.kind) {
    case "files":
      return filesBody(card);
    case "exec":
      return h(
        "div",
        { class: "card-body fields", "data-kind": "exec" },
        field("command", h("code", {}, oneLineText(card.argv.map(shellWord).join(" ")))),
        field("cwd", h("code", {}, oneLineText(card.cwd))),
        field(
          "env",
          card.envNames.length ? h("code", {}, oneLineText(card.envNames.join(", "))) : "(none)",
          card.envNames.length ? h("span", { class: "muted" }, " (values not shown)") : "",
        ),
        field("network", card.network ? h("span", { class: "danger" }, "yes: the command may reach the network") : "no"),
      );
    case "mcp": {
      const hints = Object.entries(card.annotations ?? {});
      return h(
        "div",
        { class: "card-body fields", "data-kind": "mcp" },
        field("server", h("code", {}, oneLineText(card.server))),
        field("tool", h("code", {}, oneLineText(card.tool))),
        hints.length
          ? field(
              "hints",
              ...hints.map(([k, v]) => h("span", { class: `hint ${v ? "on" : "off"}` }, oneLineText(`${k}: ${String(v)}`))),
              h("span", { class: "muted" }, " (as the server says)"),
            )
          : null,
        field("arguments"),
        h("pre", { class: "json" }, visibleText(card.argumentsJson)),
      );
    }
  }
}
