// Claude through the official `@anthropic-ai/sdk` client and the Messages API. The answer is
// streamed (text shown as it arrives); a tool call is a tool_use content block whose input
// arrives as pieces of JSON, put together here per block. The conversation maps onto the API's
// shape: system messages go to `system`, tool results are tool_result blocks in a user turn.
import Anthropic from "@anthropic-ai/sdk";
import type { ContentBlockParam, MessageCreateParamsStreaming, MessageParam, StopReason, Tool } from "@anthropic-ai/sdk/resources/messages";
import { type ModelCallOptions, type ModelMessage, type ModelProvider, type ModelRequest, type ModelTurn, type ToolCall } from "../../core/model.ts";
import { causeCode, duration, excerpt, innermost, oneLine } from "./provider-errors.ts";
import { ModelError } from "../../core/errors.ts";

export const ANTHROPIC_BASE_URL = "https://api.anthropic.com";

/** The SDK insists on a key; a proxy or gateway that wants none gets this (never api.anthropic.com). */
const PLACEHOLDER_KEY = "ironclaw-no-key";

/**
 * The SDK's own retries (connection errors, 408, 409, 429, 5xx and 529 "overloaded", with
 * exponential backoff that honours retry-after). Two, the SDK's default; a stream that breaks
 * after it started is never retried.
 */
export const ANTHROPIC_MAX_RETRIES = 2;

/** The Messages API requires max_tokens; this is used when the request does not say. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 8192;

export interface AnthropicProviderOptions {
  readonly model: string;
  /** Default: Anthropic's own API. */
  readonly baseURL?: string;
  /** Default: $ANTHROPIC_API_KEY (required for Anthropic's own API). */
  readonly apiKey?: string;
  /** Default "anthropic:<model>". */
  readonly name?: string;
  readonly maxRetries?: number;
  /** Per attempt, until the answer starts (SDK default: 10 minutes). */
  readonly timeoutMs?: number;
  readonly defaultMaxTokens?: number;
  /** Where ANTHROPIC_API_KEY is read from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

interface PartialToolUse {
  readonly id: string;
  readonly name: string;
  json: string;
}

export class AnthropicProvider implements ModelProvider {
  readonly name: string;
  readonly #client: Anthropic;
  readonly #model: string;
  readonly #baseURL: string;
  readonly #defaultMaxTokens: number;

  constructor(options: AnthropicProviderOptions) {
    this.#model = options.model;
    this.#baseURL = (options.baseURL ?? ANTHROPIC_BASE_URL).replace(/\/+$/, "");
    this.#defaultMaxTokens = options.defaultMaxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS;
    this.name = options.name ?? `anthropic:${options.model}`;
    const official = this.#baseURL === ANTHROPIC_BASE_URL;
    const apiKey = options.apiKey ?? (options.env ?? process.env).ANTHROPIC_API_KEY;
    if (!apiKey && official) throw new ModelError("no_key", `${this.name}: Anthropic's API needs a key; set ANTHROPIC_API_KEY`);
    // An explicit key also keeps the SDK from looking for credentials of its own (profiles on disk).
    this.#client = new Anthropic({
      apiKey: apiKey || PLACEHOLDER_KEY,
      baseURL: this.#baseURL,
      maxRetries: options.maxRetries ?? ANTHROPIC_MAX_RETRIES,
      ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }),
    });
  }

  async complete(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelTurn> {
    const { signal } = options;
    if (signal?.aborted) throw this.#aborted();
    try {
      return await this.#stream(request, options);
    } catch (err) {
      if (err instanceof ModelError) throw err;
      if (signal?.aborted) throw this.#aborted();
      throw this.#explain(err);
    }
  }

  async #stream(request: ModelRequest, { signal, onText }: ModelCallOptions): Promise<ModelTurn> {
    const system = request.messages.flatMap((m) => (m.role === "system" ? [m.content] : [])).join("\n\n");
    const body: MessageCreateParamsStreaming = {
      model: this.#model,
      max_tokens: request.maxTokens ?? this.#defaultMaxTokens,
      messages: toAnthropic(request.messages),
      stream: true,
      ...(system && { system }),
      ...(request.tools.length > 0 && {
        tools: request.tools.map((t): Tool => ({ name: t.name, description: t.description, input_schema: { type: "object", ...t.inputSchema } })),
      }),
    };
    const stream = await this.#client.messages.create(body, signal ? { signal } : {});
    let text = "";
    let stop: StopReason | null = null;
    let finished = false;
    let usage = { inputTokens: 0, outputTokens: 0 };
    const toolUses = new Map<number, PartialToolUse>();
    for await (const event of stream) {
      switch (event.type) {
        case "message_start":
          usage = { inputTokens: inputTokens(event.message.usage), outputTokens: event.message.usage.output_tokens };
          break;
        case "content_block_start":
          if (event.content_block.type === "tool_use") toolUses.set(event.index, { id: event.content_block.id, name: event.content_block.name, json: "" });
          break;
        case "content_block_delta":
          if (event.delta.type === "text_delta") {
            text += event.delta.text;
            onText?.(event.delta.text);
          } else if (event.delta.type === "input_json_delta") {
            const use = toolUses.get(event.index);
            if (use) use.json += event.delta.partial_json;
          }
          break;
        case "message_delta":
          stop = event.delta.stop_reason;
          // message_delta's counts are cumulative; input_tokens is there only in newer answers.
          usage = {
            inputTokens: event.usage.input_tokens === null || event.usage.input_tokens === undefined ? usage.inputTokens : inputTokens(event.usage),
            outputTokens: event.usage.output_tokens,
          };
          break;
        case "message_stop":
          finished = true;
          break;
      }
    }
    // The SDK ends a stream quietly when it is aborted: say so rather than return half an answer.
    if (signal?.aborted) throw this.#aborted();
    if (!finished) throw new ModelError("stream_broken", `${this.name}: ${this.#baseURL} ended the answer before the model finished; try again`);
    if (stop === "refusal") throw new ModelError("refusal", `${this.name}: the model declined to continue (stop_reason refusal); rephrase the task`);
    const toolCalls = [...toolUses.entries()].sort(([a], [b]) => a - b).map(([, use]) => this.#toolCall(use, stop === "max_tokens", body.max_tokens));
    return { text, toolCalls, usage, stop: stopOf(stop, toolCalls.length > 0) };
  }

  #toolCall(use: PartialToolUse, cutOff: boolean, maxTokens: number): ToolCall {
    let input: unknown = {};
    if (use.json.trim() !== "") {
      try {
        input = JSON.parse(use.json);
      } catch (err) {
        const cause = cutOff ? `the model ran out of tokens (max_tokens ${maxTokens}) in the middle of it; raise the token limit` : `${(err as Error).message}; try again`;
        throw new ModelError("bad_tool_arguments", `${this.name}: the input of the call to ${use.name} is not valid JSON (${excerpt(use.json.replace(/\s+/g, " "))}): ${cause}`);
      }
    }
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      throw new ModelError("bad_tool_arguments", `${this.name}: the input of the call to ${use.name} is not a JSON object (${excerpt(use.json)})`);
    }
    return { id: use.id, name: use.name, arguments: input as Record<string, unknown> };
  }

  #aborted(): ModelError {
    return new ModelError("aborted", `${this.name}: cancelled`);
  }

  /** An SDK error as one line that says what went wrong and what to do about it. */
  #explain(err: unknown): ModelError {
    const at = this.#baseURL;
    const retried = (what: string) => (this.#client.maxRetries > 0 ? `${what} (after ${this.#client.maxRetries} ${this.#client.maxRetries === 1 ? "retry" : "retries"})` : what);
    if (err instanceof Anthropic.APIConnectionTimeoutError) {
      return new ModelError("timeout", `${this.name}: ${retried(`no answer from ${at} within ${duration(this.#client.timeout)}`)}; check the network, or try again`);
    }
    if (err instanceof Anthropic.APIConnectionError) {
      const code = causeCode(err);
      const why = code === "ECONNREFUSED" ? "connection refused" : code === "ENOTFOUND" ? "no such host" : oneLine(innermost(err).message);
      return new ModelError("unreachable", `${this.name}: ${retried(`cannot connect to ${at} (${why})`)}; check the network and ANTHROPIC_BASE_URL`);
    }
    if (err instanceof Anthropic.APIError) {
      const what = oneLine(err.apiMessage ?? err.message);
      const said = err.status === undefined ? `${err.type ?? "error"}: ${what}` : `${err.status} ${err.type ?? ""}: ${what}`.replace(" :", ":");
      // An `event: error` inside the stream: the request was fine, the answer failed.
      if (err.status === undefined)
        return new ModelError(err.type === "overloaded_error" ? "overloaded" : "server", `${this.name}: the answer failed mid-stream (${said}); try again`);
      if (err instanceof Anthropic.AuthenticationError) return new ModelError("auth", `${this.name}: ${at} refused the API key (${said}); set ANTHROPIC_API_KEY to a valid key`);
      if (err instanceof Anthropic.PermissionDeniedError)
        return new ModelError("permission", `${this.name}: the API key may not do this (${said}); check the key's workspace and model access`);
      if (err instanceof Anthropic.NotFoundError) return new ModelError("not_found", `${this.name}: no model "${this.#model}" at ${at} (${said}); check the model name`);
      if (err instanceof Anthropic.RateLimitError)
        return new ModelError("rate_limited", `${this.name}: ${retried(`rate limited (${said})`)}; wait, or check the organization's limits`);
      if (err.status === 529) return new ModelError("overloaded", `${this.name}: ${retried(`the API is overloaded (${said})`)}; try again later`);
      if (err.status >= 500) return new ModelError("server", `${this.name}: ${retried(`${at} failed (${said})`)}; try again later`);
      return new ModelError("bad_request", `${this.name}: ${at} refused the request (${said})`);
    }
    // The body broke off (the connection dropped) or was not server-sent events at all.
    return new ModelError("stream_broken", `${this.name}: the answer from ${at} broke off (${oneLine(innermost(err).message)}); try again`);
  }
}

/** Cached prompt tokens are still prompt tokens: the budget counts them all. */
function inputTokens(usage: { input_tokens: number | null; cache_creation_input_tokens: number | null; cache_read_input_tokens: number | null }): number {
  return (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}

function stopOf(stop: StopReason | null, calledTools: boolean): ModelTurn["stop"] {
  switch (stop) {
    case "tool_use":
      return "tool_calls";
    case "max_tokens":
    case "model_context_window_exceeded":
      return "max_tokens";
    default:
      // end_turn, stop_sequence, pause_turn (server-side tools only, which are never offered).
      return calledTools ? "tool_calls" : "end";
  }
}

/**
 * The conversation in the API's shape. Turns must alternate user/assistant, so tool results
 * (which are user content) and a user message that follows them join one user turn, results
 * first, as the API requires.
 */
function toAnthropic(messages: readonly ModelMessage[]): MessageParam[] {
  const out: { role: "user" | "assistant"; content: ContentBlockParam[] }[] = [];
  const add = (role: "user" | "assistant", block: ContentBlockParam) => {
    const last = out.at(-1);
    if (last?.role === role) last.content.push(block);
    else out.push({ role, content: [block] });
  };
  for (const m of messages) {
    switch (m.role) {
      case "system":
        break; // sent as `system`
      case "user":
        add("user", { type: "text", text: m.content });
        break;
      case "assistant":
        // The API refuses empty text blocks.
        if (m.content) add("assistant", { type: "text", text: m.content });
        for (const call of m.toolCalls ?? []) add("assistant", { type: "tool_use", id: call.id, name: call.name, input: call.arguments });
        break;
      case "tool":
        add("user", { type: "tool_result", tool_use_id: m.toolCallId, content: m.content, ...(m.isError && { is_error: true }) });
        break;
    }
  }
  return out;
}
