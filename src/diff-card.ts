// What a human sees at the approval cliff, and the hash an approval binds to. A card is plain
// JSON-serialisable data (the terminal renders it here; the web inspector shows the same data),
// and actionHash covers the card itself: the patch and the base hashes it applies to, so an
// answer given for one diff can never approve another.
import { createHash } from "node:crypto";
import { isUtf8 } from "node:buffer";
import { styleText } from "node:util";
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from "diff";
import { visible } from "./terminal-text.ts";

export interface FileChange {
  readonly path: string;
  /** The host's current content; null: the file does not exist there (created). */
  readonly before: string | null;
  /** null: the file is deleted. */
  readonly after: string | null;
  /** SHA-256 (hex) of the host's current content; null if the file is absent there. */
  readonly baseHash: string | null;
}

export type FileStatus = "added" | "modified" | "deleted";

export type DiffCard =
  | { kind: "files"; title: string; changes: Array<{ path: string; status: FileStatus; baseHash: string | null; patch: string }> }
  | { kind: "exec"; title: string; argv: string[]; cwd: string; envNames: string[]; network: boolean }
  | { kind: "mcp"; title: string; server: string; tool: string; argumentsJson: string; annotations?: Record<string, boolean> };

// ── canonical JSON and hashes ─────────────────────────────────────────────────────────────

const skipped = (v: unknown) => v === undefined || typeof v === "function" || typeof v === "symbol";

/**
 * JSON with object keys sorted (by UTF-16 code units, as RFC 8785 does) and no whitespace: the
 * same value always gives the same text, whatever order its keys were built in. Otherwise it is
 * JSON.stringify's semantics (toJSON, undefined properties left out, non-finite numbers null),
 * so a value read back from JSON hashes as it did before it was written.
 */
export function canonicalJson(value: unknown): string {
  const open = new Set<object>();
  function write(v: unknown, key: string): string {
    if (v !== null && typeof v === "object" && typeof (v as { toJSON?: unknown }).toJSON === "function") v = (v as { toJSON: (k: string) => unknown }).toJSON(key);
    if (v === null || skipped(v)) return "null";
    switch (typeof v) {
      case "boolean":
        return v ? "true" : "false";
      case "number":
        return Number.isFinite(v) ? JSON.stringify(v) : "null";
      case "string":
        return JSON.stringify(v);
      case "bigint":
        throw new TypeError("canonicalJson: a BigInt has no JSON form");
    }
    const object = v as object;
    if (open.has(object)) throw new TypeError("canonicalJson: the value is cyclic");
    open.add(object);
    let text: string;
    if (Array.isArray(object)) {
      text = `[${object.map((item, i) => write(item, String(i))).join(",")}]`;
    } else {
      const record = object as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => !skipped(record[k]))
        .sort();
      text = `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k], k)}`).join(",")}}`;
    }
    open.delete(object);
    return text;
  }
  return write(value, "");
}

/** The value with every object's keys in sorted order, for pretty-printing it canonically. */
function sortedCopy(value: unknown): unknown {
  return JSON.parse(canonicalJson(value));
}

export function sha256Hex(content: string | Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

/**
 * SHA-256 (hex) over the canonical JSON of the exact action: the tool, its arguments, and the
 * card (for files: every patch and the base hash each applies to). Any change gives a new hash.
 */
export function actionHash(action: { tool: string; args: unknown; card: DiffCard }): string {
  return sha256Hex(canonicalJson({ tool: action.tool, args: action.args, card: action.card }));
}

// ── cards ────────────────────────────────────────────────────────────────────────────────

/** git's test: a NUL byte in the first 8000 bytes; a Buffer must also be valid UTF-8 to be text. */
export function isBinary(content: string | Buffer): boolean {
  if (typeof content === "string") return content.slice(0, 8000).includes("\0");
  return content.subarray(0, 8000).includes(0) || !isUtf8(content);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const bytes = (s: string) => plural(Buffer.byteLength(s), "byte");

function statusOf(change: FileChange): FileStatus {
  if (change.before === null && change.after === null) throw new TypeError(`${change.path}: a change needs before or after content (both are null)`);
  return change.before === null ? "added" : change.after === null ? "deleted" : "modified";
}

function patchOf(change: FileChange, status: FileStatus): string {
  const before = change.before ?? "";
  const after = change.after ?? "";
  if (isBinary(before) || isBinary(after)) {
    // The size alone would let two different binaries share a card (and a hash): name the new content.
    const newHash = status === "deleted" ? "" : `; new sha256 ${sha256Hex(after)}`;
    if (status === "added") return `binary file added (${bytes(after)}${newHash})`;
    if (status === "deleted") return `binary file deleted (${bytes(before)})`;
    return `binary file changed (${bytes(before)} → ${bytes(after)}${newHash})`;
  }
  return createTwoFilesPatch(
    status === "added" ? "/dev/null" : `a/${change.path}`,
    status === "deleted" ? "/dev/null" : `b/${change.path}`,
    before,
    after,
    undefined,
    undefined,
    { headerOptions: FILE_HEADERS_ONLY },
  );
}

/** The changes going back to the host, sorted by path, each as a unified diff against the host's current content. */
export function filesCard(changes: readonly FileChange[]): DiffCard {
  const entries = [...changes]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((change) => {
      const status = statusOf(change);
      return { path: change.path, status, baseHash: change.baseHash, patch: patchOf(change, status) };
    });
  const counts = (["added", "modified", "deleted"] as const)
    .map((s) => [s, entries.filter((e) => e.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  const title = `Write ${plural(entries.length, "file")} to the host${counts.length ? ` (${counts.join(", ")})` : ""}`;
  return { kind: "files", title, changes: entries };
}

export function execCard(a: { argv: readonly string[]; cwd: string; envNames: readonly string[]; network: boolean }): DiffCard {
  return {
    kind: "exec",
    title: a.network ? "Run a command in the sandbox, with network access" : "Run a command in the sandbox",
    argv: [...a.argv],
    cwd: a.cwd,
    envNames: [...a.envNames],
    network: a.network,
  };
}

export function mcpCard(a: { server: string; tool: string; args: unknown; annotations?: Record<string, boolean | undefined> }): DiffCard {
  const annotations = Object.fromEntries(
    Object.entries(a.annotations ?? {})
      .filter((e): e is [string, boolean] => typeof e[1] === "boolean")
      .sort(([x], [y]) => (x < y ? -1 : 1)),
  );
  return {
    kind: "mcp",
    title: `Call ${a.tool} on MCP server ${a.server}`,
    server: a.server,
    tool: a.tool,
    // Sorted keys: the same arguments always read (and hash) the same.
    argumentsJson: JSON.stringify(sortedCopy(a.args ?? {}), null, 2),
    ...(Object.keys(annotations).length > 0 && { annotations }),
  };
}

// ── terminal rendering ───────────────────────────────────────────────────────────────────

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

type Style = Parameters<typeof styleText>[0];

export function renderCard(card: DiffCard, options: { color: boolean; width?: number }): string {
  const paint = (style: Style, text: string) => (options.color ? styleText(style, text, { validateStream: false }) : text);
  const width = Math.max(20, options.width ?? 80);
  const title = `── ${visible(card.title)} `;
  const lines = [paint("bold", title + "─".repeat(Math.max(2, width - title.length)))];
  const field = (name: string, value: string) => lines.push(`${paint("bold", name.padEnd(10))}${value}`);

  switch (card.kind) {
    case "files":
      if (card.changes.length === 0) lines.push("(no changes)");
      for (const [i, change] of card.changes.entries()) {
        if (i > 0) lines.push("");
        const base = change.baseHash ? `  base sha256 ${change.baseHash.slice(0, 12)}` : "";
        lines.push(paint("bold", `${change.status} ${visible(change.path)}`) + paint("dim", base));
        for (const line of change.patch.replace(/\n$/, "").split("\n")) {
          const shown = visible(line);
          if (line.startsWith("+++") || line.startsWith("---")) lines.push(paint("bold", shown));
          else if (line.startsWith("@@")) lines.push(paint("cyan", shown));
          else if (line.startsWith("+")) lines.push(paint("green", shown));
          else if (line.startsWith("-")) lines.push(paint("red", shown));
          else if (line.startsWith("\\")) lines.push(paint("dim", shown));
          else lines.push(shown);
        }
      }
      break;
    case "exec":
      field("command", visible(card.argv.map(shellWord).join(" ")));
      field("cwd", visible(card.cwd));
      field("env", card.envNames.length ? `${visible(card.envNames.join(", "))} ${paint("dim", "(values not shown)")}` : "(none)");
      field("network", card.network ? paint("red", "yes: the command may reach the network") : "no");
      break;
    case "mcp":
      field("server", visible(card.server));
      field("tool", visible(card.tool));
      if (card.annotations) {
        field("hints", `${Object.entries(card.annotations).map(([k, v]) => `${visible(k)}: ${v}`).join(", ")} ${paint("dim", "(as the server says)")}`);
      }
      lines.push(paint("bold", "arguments"));
      for (const line of card.argumentsJson.split("\n")) lines.push(visible(line));
      break;
  }
  return `${lines.join("\n")}\n`;
}
