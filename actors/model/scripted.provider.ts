// A model that plays back a file of turns, for offline runs, demos and tests: the agent loop,
// the sandboxes and the tools all run for real, only the thinking is written down in advance.
// A turn can say what it expects to see first (the user's words, a tool's result), so a run that
// goes somewhere the script did not foresee fails loudly at that turn instead of replaying
// answers to questions nobody asked.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { Result, Schema } from "effect";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { schemaProblem } from "../../core/schema-problem.ts";
import { type ModelCallOptions, type ModelMessage, type ModelProvider, type ModelRequest, type ModelTurn, type ToolCall } from "../../core/model.ts";
import { ModelError } from "../../core/errors.ts";

/** One substring, or several that must all appear. */
const Contains = Schema.Union([Schema.String, Schema.Array(Schema.String)]);
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));

const Expect = Schema.Struct({
  /** The last user message contains this. */
  user: Schema.optional(Contains),
  /** The tool results since the model's last turn: each substring is in one of them. */
  toolResult: Schema.optional(Contains),
  /** Whether any of those results is an error (true) or none is (false). */
  toolError: Schema.optional(Schema.Boolean),
  /** These tools are on offer. */
  tools: Schema.optional(Schema.Array(Schema.String)),
});

const ScriptedCall = Schema.Struct({
  name: Schema.String.check(Schema.isMinLength(1)),
  arguments: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
});

const Usage = Schema.Struct({ inputTokens: Count, outputTokens: Count });

const Turn = Schema.Struct({
  expect: Schema.optional(Expect),
  text: Schema.optional(Schema.String),
  toolCalls: Schema.optional(Schema.Array(ScriptedCall)),
  /** Default: tool_calls when the turn calls tools, else end. */
  stop: Schema.optional(Schema.Literals(["end", "tool_calls", "max_tokens"])),
  /** Default: estimated from the characters (see approxTokens). */
  usage: Schema.optional(Usage),
});

const ScriptFile = Schema.Struct({ turns: Schema.Array(Turn).check(Schema.isMinLength(1)) });

export type ScriptTurn = typeof Turn.Type;
export type Script = typeof ScriptFile.Type;

const decode = Schema.decodeUnknownResult(ScriptFile as never, { onExcessProperty: "error" } as never) as (u: unknown) => Result.Result<Script, Error>;

/** The failure's first issue as `turns[1].toolCalls[0].name: Expected string` (core/schema-problem.ts gives its path and words). */
function describe(failure: Error, raw: unknown): string {
  const { segments: keys, problem: what } = schemaProblem(failure);
  const path = keys.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
  const got = keys.reduce<unknown>((o, k) => (o !== null && typeof o === "object" ? (o as Record<string | number, unknown>)[k] : undefined), raw);
  if (what === "Expected no excess property") {
    const parent = String(keys.slice(0, -1).findLast((k) => typeof k === "string") ?? "");
    const fields: Record<string, object> = { turns: Turn.fields, expect: Expect.fields, toolCalls: ScriptedCall.fields, usage: Usage.fields };
    const known = fields[parent] ?? ScriptFile.fields;
    return `${path} is not a key here (keys: ${Object.keys(known).join(", ")})`;
  }
  return `${path || "the file"}: ${what}${got === undefined || typeof got === "object" ? "" : `, got ${JSON.stringify(got)}`}`;
}

/** Parses and checks a script; `source` names it in errors. JSON for .json files, YAML otherwise. */
export function parseScript(text: string, source: string): Script {
  let raw: unknown;
  try {
    raw = extname(source) === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const why = err instanceof YAMLParseError ? err.message.split("\n")[0]! : (err as Error).message;
    throw new ModelError("bad_script", `${source}: not valid ${extname(source) === ".json" ? "JSON" : "YAML"} (${why})`);
  }
  if (Array.isArray(raw)) throw new ModelError("bad_script", `${source}: the turns go under a "turns:" key`);
  const result = decode(raw);
  if (Result.isFailure(result)) throw new ModelError("bad_script", `${source}: ${describe(result.failure, raw)}`);
  return result.success;
}

/**
 * Token counts for a script are an estimate — about four characters a token, which is close
 * for English and code with OpenAI's and Anthropic's tokenizers — so budgets behave roughly as
 * they would with a real model. A turn's `usage` overrides it.
 */
const approxTokens = (chars: number) => Math.ceil(chars / 4);

const all = (c: string | readonly string[]) => (typeof c === "string" ? [c] : c);
const show = (text: string) => JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);

export class ScriptedProvider implements ModelProvider {
  readonly name: string;
  readonly #script: Script;
  readonly #source: string;
  #next = 0;

  constructor(script: Script, source: string) {
    this.#script = script;
    this.#source = source;
    this.name = `script:${source}`;
  }

  /** Reads and checks the file at once, so a bad script is reported before anything starts. */
  static fromFile(path: string): ScriptedProvider {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new ModelError("bad_script", `${path}: cannot read the script (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    return new ScriptedProvider(parseScript(text, path), path);
  }

  /** Turns played so far. */
  get played(): number {
    return this.#next;
  }

  async complete(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelTurn> {
    if (options.signal?.aborted) throw new ModelError("aborted", `${this.name}: cancelled`);
    const index = this.#next;
    const turn = this.#script.turns[index];
    if (!turn) {
      throw new ModelError(
        "script_exhausted",
        `${this.#source}: the model was asked for turn ${index + 1}, and the script has only ${this.#script.turns.length}; add turns, or end the last one without tool calls`,
      );
    }
    this.#check(index, turn, request);
    this.#next++;
    const text = turn.text ?? "";
    if (text) options.onText?.(text);
    // Deterministic ids: the same script makes the same conversation, run after run.
    const toolCalls: ToolCall[] = (turn.toolCalls ?? []).map((c, i) => ({ id: `script_${index}_${i}`, name: c.name, arguments: c.arguments ?? {} }));
    const promptChars = request.messages.reduce((n, m) => n + m.content.length, 0) + JSON.stringify(request.tools).length;
    return {
      text,
      toolCalls,
      usage: turn.usage ?? { inputTokens: approxTokens(promptChars), outputTokens: approxTokens(text.length + (toolCalls.length > 0 ? JSON.stringify(toolCalls).length : 0)) },
      stop: turn.stop ?? (toolCalls.length > 0 ? "tool_calls" : "end"),
    };
  }

  /** A turn's `expect` against what the model is shown now; the first mismatch fails the run. */
  #check(index: number, turn: ScriptTurn, request: ModelRequest): void {
    const expect = turn.expect;
    if (!expect) return;
    const fail = (what: string): never => {
      throw new ModelError("script_diverged", `${this.#source}: turns[${index}].expect: ${what}; the run went somewhere the script did not foresee`);
    };
    const messages = request.messages;
    if (expect.user !== undefined) {
      const user = messages.findLast((m) => m.role === "user");
      if (!user) return fail("user: expected a user message, and there is none");
      for (const s of all(expect.user)) if (!user.content.includes(s)) fail(`user: expected the last user message to contain ${show(s)}, got ${show(user.content)}`);
    }
    if (expect.toolResult !== undefined || expect.toolError !== undefined) {
      const results = resultsSinceLastTurn(messages);
      if (results.length === 0) fail("expected tool results, and the model has not been given any since its last turn");
      for (const s of all(expect.toolResult ?? [])) {
        if (!results.some((r) => r.content.includes(s)))
          fail(`toolResult: expected a tool result containing ${show(s)}, got ${results.map((r) => `${r.name}: ${show(r.content)}`).join("; ")}`);
      }
      const failed = results.filter((r) => r.isError);
      if (expect.toolError === true && failed.length === 0) fail(`toolError: expected a failed tool call, and ${results.map((r) => r.name).join(", ")} succeeded`);
      if (expect.toolError === false && failed.length > 0)
        fail(`toolError: expected no failed tool call, and ${failed.map((r) => `${r.name} failed: ${show(r.content)}`).join("; ")}`);
    }
    for (const name of expect.tools ?? []) {
      if (!request.tools.some((t) => t.name === name)) fail(`tools: expected the tool ${name} on offer, got ${request.tools.map((t) => t.name).join(", ") || "no tools"}`);
    }
  }
}

type ToolMessage = Extract<ModelMessage, { role: "tool" }>;

/** The tool results the model has not seen yet: everything after its last turn. */
function resultsSinceLastTurn(messages: readonly ModelMessage[]): ToolMessage[] {
  const last = messages.findLastIndex((m) => m.role === "assistant");
  return messages.slice(last + 1).filter((m): m is ToolMessage => m.role === "tool");
}
