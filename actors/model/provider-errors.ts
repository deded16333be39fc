// How a model provider's failure is put into words: the SDKs wrap the socket error that says
// what happened (connection refused, reset) in "fetch failed" and friends; these dig it out and
// keep messages to one readable line. Shared by every HTTP provider.
/** The deepest cause: fetch's "fetch failed" wraps the socket error that says what happened. */
export function innermost(err: unknown): Error {
  let e = err as Error & { cause?: unknown; errors?: unknown[] };
  for (let depth = 0; depth < 5; depth++) {
    const next = e.cause ?? e.errors?.[0];
    if (!(next instanceof Error)) break;
    e = next as typeof e;
  }
  return e;
}

export function causeCode(err: unknown): string | undefined {
  for (let e = err as (Error & { code?: unknown; cause?: unknown; errors?: unknown[] }) | undefined, depth = 0; e && depth < 6; depth++) {
    if (typeof e.code === "string") return e.code;
    e = (e.cause ?? e.errors?.[0]) as typeof e | undefined;
  }
  return undefined;
}

export const duration = (ms: number) => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);
export const oneLine = (text: string) => excerpt(text.replace(/\s+/g, " ").trim(), 300);
export const excerpt = (text: string, max = 80) => (text.length > max ? `${text.slice(0, max)}…` : text);
