// What of an actor's context and events may leave the process for the inspector. Contexts hold
// environment values, credentials in MCP configs and whole file contents; the inspector needs
// their shape, not their secrets or their bulk. So: secret-looking keys are redacted (an `env`
// keeps its names, loses its values), strings and lists are cut, depth is bounded, actor
// references become their id, and nothing that is not data (functions, class instances with
// cycles) gets through.
const SECRET_KEY = /(token|secret|password|passwd|authorization|cookie|credential|api[-_]?key|private[-_]?key)/i;
const MAX_STRING = 400;
const MAX_ITEMS = 30;
const MAX_DEPTH = 5;

const isActorRef = (v: object): v is { id: string; sessionId: string } =>
  "sessionId" in v && "send" in v && typeof (v as { send: unknown }).send === "function";

export function redact(value: unknown, depth = 0, key = "", seen: Set<object> = new Set()): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === "string") {
    if (key && SECRET_KEY.test(key)) return "[redacted]";
    return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}… (${value.length} chars)` : value;
  }
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object") return undefined; // functions, symbols
  if (isActorRef(value)) return { actor: value.id };
  if (value instanceof Error) return { error: value.message };
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (seen.has(value)) return "[cycle]";
  if (depth >= MAX_DEPTH) return Array.isArray(value) ? `[${value.length} items]` : "[…]";
  seen.add(value);
  try {
    if (key === "env" && !Array.isArray(value)) return Object.fromEntries(Object.keys(value).map((k) => [k, "[redacted]"]));
    if (Array.isArray(value)) {
      const items = value.slice(0, MAX_ITEMS).map((item) => redact(item, depth + 1, "", seen));
      return value.length > MAX_ITEMS ? [...items, `… ${value.length - MAX_ITEMS} more`] : items;
    }
    if (value instanceof Map) return redact(Object.fromEntries(value), depth, key, seen);
    if (value instanceof Set) return redact([...value], depth, key, seen);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_KEY.test(k) && v !== null && v !== undefined && typeof v !== "object") out[k] = "[redacted]";
      else {
        const r = redact(v, depth + 1, k, seen);
        if (r !== undefined) out[k] = r;
      }
    }
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
