// A checker for one Effect Schema: the value, or one line saying what is wrong. Shared by every
// protocol IronClaw speaks (the guest's, the daemon's, the inspector's); the guest agent is
// bundled alone and imports it, so it stays this small.
import { Result, Schema } from "effect";

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export function schemaDecoder<S extends Schema.Codec<unknown, unknown>>(schema: S) {
  const decode = Schema.decodeUnknownResult(schema as never) as (u: unknown) => Result.Result<S["Type"], Error>;
  return (json: unknown): Decoded<S["Type"]> => {
    const result = decode(json);
    return Result.isSuccess(result) ? { ok: true, value: result.success } : { ok: false, error: result.failure.message.replace(/\s+/g, " ") };
  };
}
