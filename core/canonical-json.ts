// The one canonical JSON text of a value: what action hashes and the audit log's chain are computed over.
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
