// A statechart's state value as text, for logs, `mcp list` and the inspector: one way to say it.

/** "running.busy" from { running: "busy" } (parallel regions joined with ", "). */
export function dottedState(value: unknown): string {
  if (typeof value === "string") return value;
  if (!value || typeof value !== "object") return String(value);
  return Object.entries(value)
    .map(([k, v]) => {
      const inner = dottedState(v);
      return inner && v && (typeof v === "string" || Object.keys(v).length) ? `${k}.${inner}` : k;
    })
    .join(", ");
}

/** The top-level state only: "ready" from { ready: "idle" }. */
export const topState = (value: unknown): string => (typeof value === "string" ? value : (Object.keys(value as object)[0] ?? "?"));
