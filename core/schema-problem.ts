// What an Effect Schema decode failure says, as data: the first issue's path and message from the
// library's own structured formatter (Standard Schema V1), never parsed out of the error's text —
// whose layout is the library's to change. Every config, script, record and rule IronClaw reads
// with a schema names its problem through this.
import { Schema, SchemaIssue } from "effect";

export interface SchemaProblem {
  /** Where, as the keys and indexes from the root (empty: the value itself). */
  readonly segments: readonly (string | number)[];
  /** The string keys joined with dots (`pool.size`), as settings name them. */
  readonly path: string;
  /** What was wrong, as the library words it, without the `| undefined` an optional key adds. */
  readonly problem: string;
}

const format = SchemaIssue.makeFormatterStandardSchemaV1();

export function schemaProblem(failure: unknown): SchemaProblem {
  if (!Schema.isSchemaError(failure)) return { segments: [], path: "", problem: failure instanceof Error ? failure.message : String(failure) };
  const first = format(failure.issue).issues[0];
  const segments = (first?.path ?? []).map((p) => {
    const key = typeof p === "object" && p !== null && "key" in p ? p.key : p;
    return typeof key === "number" ? key : String(key);
  });
  return {
    segments,
    path: segments.filter((s): s is string => typeof s === "string").join("."),
    problem: (first?.message ?? "invalid").replace(/ \| undefined$/, ""),
  };
}
