// A schema failure's first issue, from Effect's own structured formatter: the path as keys and
// indexes, and the library's words without the "| undefined" an optional key adds.
import { Result, Schema } from "effect";
import { describe, expect, it } from "vitest";
import { schemaProblem } from "../../core/schema-problem.ts";

const Turns = Schema.Struct({
  turns: Schema.Array(Schema.Struct({ name: Schema.String, count: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3 }))) })),
});
const decode = Schema.decodeUnknownResult(Turns as never, { onExcessProperty: "error" } as never) as (u: unknown) => Result.Result<unknown, Error>;
const failure = (u: unknown) => {
  const r = decode(u);
  if (Result.isSuccess(r)) throw new Error("expected a failure");
  return r.failure;
};

describe("schemaProblem", () => {
  it("names the path by keys and indexes, and says what was expected", () => {
    expect(schemaProblem(failure({ turns: [{ name: "a" }, { name: 7 }] }))).toEqual({ segments: ["turns", 1, "name"], path: "turns.name", problem: "Expected string" });
    expect(schemaProblem(failure({ turns: [{ name: "a", count: 9 }] }))).toEqual({
      segments: ["turns", 0, "count"],
      path: "turns.count",
      problem: "Expected a value between 1 and 3",
    });
  });

  it("drops the '| undefined' of an optional key, and names an excess property", () => {
    expect(schemaProblem(failure({ turns: [{ name: "a", count: "x" }] })).problem).toBe("Expected number");
    expect(schemaProblem(failure({ turns: [], extra: 1 }))).toMatchObject({ segments: ["extra"], problem: "Expected no excess property" });
  });

  it("passes an error that is not a schema's through as its message", () => {
    expect(schemaProblem(new Error("boom"))).toEqual({ segments: [], path: "", problem: "boom" });
  });
});
