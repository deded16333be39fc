// Chat completions through the official `openai` client, for OpenAI and for every server that
// speaks its wire format: Ollama, llama.cpp's server, vLLM, LM Studio, hosted OpenAI-compatible
// APIs. The answer is always streamed, so the CLI can show text as it arrives; tool calls come
// in pieces (an id and name, then the arguments a few characters at a time) and are put
// together here by their index.
import OpenAI from "openai";
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { type ModelCallOptions, type ModelMessage, type ModelProvider, type ModelRequest, type ModelTurn, type ToolCall } from "../../core/model.ts";
import { causeCode, duration, excerpt, innermost, oneLine } from "./provider-errors.ts";
import { ModelError } from "../../core/errors.ts";

export const OPENAI_BASE_URL = "https://api.openai.com/v1";

/**
 * The SDK refuses to start without an API key, and local servers (Ollama, llama.cpp, vLLM
 * without --api-key) want none: they get this instead. It is sent only to an endpoint that is
 * not OpenAI's, and a server that does check keys answers 401, which names the variable to set.
 */
const PLACEHOLDER_KEY = "ironclaw-no-key";

/**
 * The SDK's own retries (connection errors, 408, 409, 429 and 5xx, with exponential backoff that
 * honours retry-after). Two, the SDK's default: enough to ride out a blip, few enough that a
 * dead server is reported within seconds. A stream that breaks after it started is never retried.
 */
export const OPENAI_MAX_RETRIES = 2;

export interface OpenAIProviderOptions {
  readonly model: string;
  /** Default: OpenAI's own API. Ollama: http://127.0.0.1:11434/v1. */
  readonly baseURL?: string;
  /** Default: $OPENAI_API_KEY for OpenAI's API (required there); no key for any other endpoint. */
  readonly apiKey?: string;
  /** The variable error messages tell the user to set when the key is refused (default OPENAI_API_KEY). */
  readonly apiKeyEnv?: string;
  /** Default "openai:<model>". */
  readonly name?: string;
  readonly maxRetries?: number;
  /** Per attempt, until the answer starts (SDK default: 10 minutes, which a local model loading from disk may need). */
  readonly timeoutMs?: number;
  /** Where OPENAI_API_KEY is read from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

/** Roughly four characters a token: used only when the server does not report usage. */
const approxTokens = (chars: number) => Math.ceil(chars / 4);

export class OpenAIProvider implements ModelProvider {
  readonly name: string;
  readonly #client: OpenAI;
  readonly #model: string;
  readonly #baseURL: string;
  readonly #official: boolean;
  readonly #apiKeyEnv: string;
  /** `stream_options` is OpenAI's; a server that refuses it once is not sent it again. */
  #streamUsage = true;

  constructor(options: OpenAIProviderOptions) {
    this.#model = options.model;
    this.#baseURL = (options.baseURL ?? OPENAI_BASE_URL).replace(/\/+$/, "");
    this.#official = isOpenAI(this.#baseURL);
    this.#apiKeyEnv = options.apiKeyEnv ?? "OPENAI_API_KEY";
    this.name = options.name ?? `openai:${options.model}`;
    const env = options.env ?? process.env;
    const apiKey = options.apiKey ?? (this.#official ? env.OPENAI_API_KEY : undefined);
    if (!apiKey && this.#official) throw new ModelError("no_key", `${this.name}: OpenAI's API needs a key; set ${this.#apiKeyEnv}`);
    this.#client = new OpenAI({
      apiKey: apiKey || PLACEHOLDER_KEY,
      baseURL: this.#baseURL,
      maxRetries: options.maxRetries ?? OPENAI_MAX_RETRIES,
      // The SDK would otherwise send $OPENAI_ORG_ID / $OPENAI_PROJECT_ID to whatever server this is.
      organization: null,
      project: null,
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
      // Older llama.cpp and vLLM builds refuse the field with a 400 before anything streams.
      if (this.#streamUsage && err instanceof OpenAI.BadRequestError && /stream_options/i.test(err.message)) {
        this.#streamUsage = false;
        return this.complete(request, options);
      }
      throw this.#explain(err);
    }
  }

  async #stream(request: ModelRequest, { signal, onText }: ModelCallOptions): Promise<ModelTurn> {
    const body: ChatCompletionCreateParamsStreaming = {
      model: this.#model,
      messages: request.messages.map(toOpenAI),
      stream: true,
      ...(this.#streamUsage && { stream_options: { include_usage: true } }),
      ...(request.tools.length > 0 && {
        tools: request.tools.map((t): ChatCompletionTool => ({ type: "function", function: { name: t.name, description: t.description, parameters: { ...t.inputSchema } } })),
      }),
      // OpenAI's newer models refuse max_tokens; most other servers know only max_tokens.
      ...(request.maxTokens !== undefined && (this.#official ? { max_completion_tokens: request.maxTokens } : { max_tokens: request.maxTokens })),
    };
    const stream = await this.#client.chat.completions.create(body, signal ? { signal } : {});
    let text = "";
    let finish: ChatCompletionChunk.Choice["finish_reason"] = null;
    let usage: OpenAI.CompletionUsage | null = null;
    const calls = new Map<number, PartialCall>();
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue; // the usage chunk has no choices
      const delta = choice.delta ?? {};
      if (delta.content) {
        text += delta.content;
        onText?.(delta.content);
      }
      for (const [position, piece] of (delta.tool_calls ?? []).entries()) {
        // Some servers leave out the index when each call arrives whole in one chunk.
        const index = piece.index ?? position;
        const call = calls.get(index) ?? { id: "", name: "", arguments: "" };
        calls.set(index, call);
        if (piece.id) call.id = piece.id;
        if (piece.function?.name) call.name = piece.function.name;
        if (piece.function?.arguments) call.arguments += piece.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    // The SDK ends a stream quietly when it is aborted: say so rather than return half an answer.
    if (signal?.aborted) throw this.#aborted();
    if (finish === null) throw new ModelError("stream_broken", `${this.name}: ${this.#baseURL} ended the answer before the model finished; try again`);
    if (finish === "content_filter") throw new ModelError("content_filter", `${this.name}: the answer was withheld by the provider's content filter; rephrase the task`);
    const toolCalls = [...calls.entries()].sort(([a], [b]) => a - b).map(([index, call]) => this.#toolCall(index, call, finish === "length", request.maxTokens));
    const promptChars = JSON.stringify(body.messages).length + JSON.stringify(body.tools ?? []).length;
    return {
      text,
      toolCalls,
      usage: usage
        ? { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens }
        : { inputTokens: approxTokens(promptChars), outputTokens: approxTokens(text.length + [...calls.values()].reduce((n, c) => n + c.name.length + c.arguments.length, 0)) },
      // Some servers (older Ollama among them) say "stop" after tool calls.
      stop: finish === "length" ? "max_tokens" : finish === "tool_calls" || finish === "function_call" || toolCalls.length > 0 ? "tool_calls" : "end",
    };
  }

  #toolCall(index: number, call: PartialCall, cutOff: boolean, maxTokens: number | undefined): ToolCall {
    if (!call.name) throw new ModelError("bad_tool_call", `${this.name}: the model sent tool call #${index} without a tool name; try another model`);
    const parsed = parseArguments(call.arguments);
    if (parsed instanceof Error) {
      const cause = cutOff
        ? `the model ran out of tokens (${maxTokens ?? "the server's limit"}) in the middle of it; raise the token limit`
        : `${parsed.message}; the model may not handle tool calling well — try another model`;
      throw new ModelError(
        "bad_tool_arguments",
        `${this.name}: the arguments of the call to ${call.name} are not a JSON object (${excerpt(call.arguments.replace(/\s+/g, " "))}): ${cause}`,
      );
    }
    // Ids are how tool results find their call; a server that sends none gets a stable one.
    return { id: call.id || `call_${index}`, name: call.name, arguments: parsed };
  }

  #aborted(): ModelError {
    return new ModelError("aborted", `${this.name}: cancelled`);
  }

  /** An SDK error as one line that says what went wrong and what to do about it. */
  #explain(err: unknown): ModelError {
    const at = this.#baseURL;
    const retried = (what: string) => (this.#client.maxRetries > 0 ? `${what} (after ${this.#client.maxRetries} ${this.#client.maxRetries === 1 ? "retry" : "retries"})` : what);
    if (err instanceof OpenAI.APIConnectionTimeoutError) {
      return new ModelError(
        "timeout",
        `${this.name}: ${retried(`no answer from ${at} within ${duration(this.#client.timeout)}`)}; check that the server is up and the model loaded`,
      );
    }
    if (err instanceof OpenAI.APIConnectionError) {
      const code = causeCode(err);
      const why = code === "ECONNREFUSED" ? "connection refused" : code === "ENOTFOUND" ? "no such host" : oneLine(innermost(err).message);
      return new ModelError("unreachable", `${this.name}: ${retried(`cannot connect to ${at} (${why})`)}; is the server running at that address?`);
    }
    if (err instanceof OpenAI.APIError && err.status !== undefined) {
      const said = `${err.status}: ${oneLine(apiMessage(err))}`;
      if (err instanceof OpenAI.AuthenticationError) return new ModelError("auth", `${this.name}: ${at} refused the API key (${said}); set ${this.#apiKeyEnv} to a valid key`);
      if (err instanceof OpenAI.PermissionDeniedError)
        return new ModelError("permission", `${this.name}: the API key may not use this (${said}); check the key's project and model access`);
      if (err instanceof OpenAI.NotFoundError)
        return new ModelError(
          "not_found",
          `${this.name}: ${at} has no model "${this.#model}" (${said}); check the model name${this.name.startsWith("ollama:") ? ` (or: ollama pull ${this.#model})` : ""} and that the URL ends in /v1`,
        );
      if (err instanceof OpenAI.RateLimitError)
        return new ModelError("rate_limited", `${this.name}: ${retried(`rate limited or out of quota (${said})`)}; wait, or check the account's limits`);
      if (err.status >= 500) return new ModelError("server", `${this.name}: ${retried(`${at} failed (${said})`)}; try again later`);
      return new ModelError("bad_request", `${this.name}: ${at} refused the request (${said})`);
    }
    // An error the server put into the stream itself: `data: {"error": {...}}`.
    if (err instanceof OpenAI.APIError) return new ModelError("server", `${this.name}: ${at} reported an error mid-answer (${oneLine(apiMessage(err))}); try again`);
    // The body broke off (the connection dropped) or was not server-sent events at all.
    return new ModelError("stream_broken", `${this.name}: the answer from ${at} broke off (${oneLine(innermost(err).message)}); try again`);
  }
}

function isOpenAI(baseURL: string): boolean {
  try {
    return new URL(baseURL).hostname === "api.openai.com";
  } catch {
    return false;
  }
}

function toOpenAI(message: ModelMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case "system":
    case "user":
      return { role: message.role, content: message.content };
    case "assistant":
      if (!message.toolCalls?.length) return { role: "assistant", content: message.content };
      return {
        role: "assistant",
        // null, not "", is how the API writes "no text, only tool calls".
        content: message.content || null,
        tool_calls: message.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
      };
    case "tool":
      // The API has no error flag for a tool result: the model learns it from the text.
      return { role: "tool", tool_call_id: message.toolCallId, content: message.isError ? `Error: ${message.content}` : message.content };
  }
}

/** A call's arguments: "" is no arguments (some servers send that for a tool without parameters). */
function parseArguments(raw: string): Record<string, unknown> | Error {
  if (raw.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    return err as Error;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : new Error(`got ${Array.isArray(value) ? "an array" : typeof value}`);
}

function apiMessage(err: InstanceType<typeof OpenAI.APIError>): string {
  const body = err.error as { message?: unknown } | undefined;
  return typeof body?.message === "string" ? body.message : err.message;
}
