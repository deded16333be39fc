// What of an actor's context and events may leave the process for the inspector. Contexts hold
// environment values, MCP server configs (whose args and headers may carry credentials), live
// sessions and channels, and whole file contents; the inspector needs their shape, not their
// secrets or their bulk. So only plain data is walked (an object of a class — a session, a
// channel — shows as its class name); everything under a secret-looking key is replaced, whatever
// its type; an `env` or `headers` keeps its names, an `args` list its length; strings, lists and
// objects are cut; depth is bounded; actor references become their id.
const SECRET_KEY = /(token|secret|password|passwd|authorization|cookie|credential|api[-_]?key|private[-_]?key|auth)/i;
/** Keys whose values are secrets but whose names say what a command gets. */
const NAMES_ONLY = new Set(["env", "headers"]);
/** Keys whose items may be secrets (a server's `--token …`): only their count is shown. */
const COUNT_ONLY = new Set(["args"]);
const MAX_STRING = 400;
const MAX_ITEMS = 30;
const MAX_KEYS = 60;
const MAX_DEPTH = 5;

const isActorRef = (v: object): v is { id: string; sessionId: string } => "sessionId" in v && "send" in v && typeof (v as { send: unknown }).send === "function";

const isPlain = (v: object) => {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

export function redact(value: unknown, depth = 0, key = "", seen: Set<object> = new Set()): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (key && SECRET_KEY.test(key)) return "[redacted]";
  if (typeof value === "string") return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}… (${value.length} chars)` : value;
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object") return undefined; // functions, symbols
  if (isActorRef(value)) return { actor: value.id };
  if (value instanceof Error) return { error: value.message };
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (COUNT_ONLY.has(key) && Array.isArray(value)) return `[${value.length} items]`;
  if (NAMES_ONLY.has(key) && !Array.isArray(value))
    return Object.fromEntries(
      Object.keys(value)
        .slice(0, MAX_KEYS)
        .map((k) => [k, "[redacted]"]),
    );
  if (seen.has(value)) return "[cycle]";
  if (depth >= MAX_DEPTH) return Array.isArray(value) ? `[${value.length} items]` : "[…]";
  if (value instanceof Map) return redact(Object.fromEntries(value), depth, key, seen);
  if (value instanceof Set) return redact([...value], depth, key, seen);
  if (!Array.isArray(value) && !isPlain(value)) return `[${(value as object).constructor?.name ?? "object"}]`;
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      // The latest items are the ones worth seeing (a session's recent messages).
      const items = value.slice(-MAX_ITEMS).map((item) => redact(item, depth + 1, "", seen));
      return value.length > MAX_ITEMS ? [`… ${value.length - MAX_ITEMS} earlier`, ...items] : items;
    }
    const out: Record<string, unknown> = {};
    const entries = Object.entries(value);
    for (const [k, v] of entries.slice(0, MAX_KEYS)) {
      const r = redact(v, depth + 1, k, seen);
      if (r !== undefined) out[k] = r;
    }
    if (entries.length > MAX_KEYS) out["…"] = `${entries.length - MAX_KEYS} more keys`;
    return out;
  } finally {
    seen.delete(value);
  }
}

/** One line for an event log: the payload without its type, redacted, at most `max` characters. */
export function describePayload(event: Record<string, unknown>, max = 300): string | undefined {
  const { type: _type, ...rest } = event;
  if (Object.keys(rest).length === 0) return undefined;
  const text = JSON.stringify(redact(rest));
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
