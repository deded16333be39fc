// Test doubles for the hosted model APIs, which cannot be reached from here (and should not be
// from a test suite): HTTP servers on 127.0.0.1 that answer in each provider's real wire
// format — OpenAI's chat completions stream (`data: {chunk}` lines, `data: [DONE]`, the usage
// chunk with empty choices) and Anthropic's messages stream (named events: message_start,
// content_block_*, ping, message_delta, message_stop, error), and each one's error bodies.
// The shapes are copied from the providers' API references; the real SDK clients parse them.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
  /** Resolves when the client's connection for this request closes (e.g. it aborted). */
  readonly closed: Promise<void>;
}

export type Handler = (request: RecordedRequest, res: ServerResponse, attempt: number) => void | Promise<void>;

export interface ApiDouble {
  /** e.g. http://127.0.0.1:41234 */
  readonly origin: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startApiDouble(handler: Handler): Promise<ApiDouble> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        closed: new Promise((resolve) => res.on("close", () => resolve())),
      };
      requests.push(recorded);
      void Promise.resolve(handler(recorded, res, requests.length)).catch((err: unknown) => {
        res.destroy(err as Error);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/**
 * Writes one server-sent event in two pieces, split mid-line, as TCP may deliver it: the
 * clients' SSE decoders must put it back together.
 */
function writeSplit(res: ServerResponse, event: string): void {
  const cut = Math.floor(event.length / 2);
  res.write(event.slice(0, cut));
  res.write(event.slice(cut));
}

// ---------------------------------------------------------------------------------------------
// OpenAI chat completions (POST /v1/chat/completions, stream: true)

export const openai = {
  streamHeaders: {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-request-id": "req_4f1c9c0ad5d14a3b8e0c9b7f1e2d3c4a",
    "openai-processing-ms": "128",
  },

  /** One `chat.completion.chunk`, as OpenAI sends it with stream_options.include_usage on. */
  chunk(delta: Record<string, unknown>, finishReason: string | null = null): Record<string, unknown> {
    return {
      id: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
      object: "chat.completion.chunk",
      created: 1741570283,
      model: "gpt-4o-mini-2024-07-18",
      service_tier: "default",
      system_fingerprint: "fp_06737a9306",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      usage: null,
    };
  },

  /** The last chunk when include_usage is on: no choices, only the counts. */
  usage(promptTokens: number, completionTokens: number): Record<string, unknown> {
    return {
      id: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
      object: "chat.completion.chunk",
      created: 1741570283,
      model: "gpt-4o-mini-2024-07-18",
      service_tier: "default",
      system_fingerprint: "fp_06737a9306",
      choices: [],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
    };
  },

  /** The first chunk of a tool call: its index, id, type and name, and no arguments yet. */
  toolCallStart(index: number, id: string, name: string): Record<string, unknown> {
    return { tool_calls: [{ index, id, type: "function", function: { name, arguments: "" } }] };
  },

  /** A later chunk: a piece of the arguments string, under the call's index only. */
  toolCallArguments(index: number, piece: string): Record<string, unknown> {
    return { tool_calls: [{ index, function: { arguments: piece } }] };
  },

  /** Starts the stream; `send` writes chunks, `done` writes [DONE] and ends the response. */
  stream(res: ServerResponse): { send(chunk: unknown): void; done(): void } {
    res.writeHead(200, openai.streamHeaders);
    return {
      send: (chunk) => writeSplit(res, `data: ${JSON.stringify(chunk)}\n\n`),
      done: () => {
        res.write("data: [DONE]\n\n");
        res.end();
      },
    };
  },

  /** A complete streamed answer: the role chunk, the content chunks, the finish chunk, usage, [DONE]. */
  answer(res: ServerResponse, chunks: readonly Record<string, unknown>[], finishReason: string, usage: readonly [number, number] | null = [12, 7]): void {
    const s = openai.stream(res);
    s.send(openai.chunk({ role: "assistant", content: "", refusal: null }));
    for (const delta of chunks) s.send(openai.chunk(delta));
    s.send(openai.chunk({}, finishReason));
    if (usage) s.send(openai.usage(...usage));
    s.done();
  },

  /** OpenAI's error envelope: { error: { message, type, param, code } }. */
  error(res: ServerResponse, status: number, error: { message: string; type: string; code: string | null }, headers: Record<string, string> = {}): void {
    json(
      res,
      status,
      { error: { message: error.message, type: error.type, param: null, code: error.code } },
      { "x-request-id": "req_9d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a", ...headers },
    );
  },

  invalidKey: {
    message: "Incorrect API key provided: sk-wrong. You can find your API key at https://platform.openai.com/account/api-keys.",
    type: "invalid_request_error",
    code: "invalid_api_key",
  },
  rateLimited: {
    message:
      "Rate limit reached for gpt-4o-mini in organization org-Xb3JkP0eUn9Qs2Lc on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.",
    type: "requests",
    code: "rate_limit_exceeded",
  },
};

// ---------------------------------------------------------------------------------------------
// Anthropic messages (POST /v1/messages, stream: true)

export const anthropic = {
  streamHeaders: {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    "anthropic-organization-id": "27796668-7351-40ac-acc4-024aee8995a5",
  },

  messageStart(inputTokens: number, cache: { creation?: number; read?: number } = {}) {
    return {
      type: "message_start",
      message: {
        id: "msg_01XFDUDYJgAACzvnptvVoYEL",
        type: "message",
        role: "assistant",
        model: "claude-sonnet-4-6",
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: inputTokens,
          cache_creation_input_tokens: cache.creation ?? 0,
          cache_read_input_tokens: cache.read ?? 0,
          output_tokens: 1,
          service_tier: "standard",
        },
      },
    };
  },
  textStart: (index: number) => ({ type: "content_block_start", index, content_block: { type: "text", text: "" } }),
  textDelta: (index: number, text: string) => ({ type: "content_block_delta", index, delta: { type: "text_delta", text } }),
  toolUseStart: (index: number, id: string, name: string) => ({ type: "content_block_start", index, content_block: { type: "tool_use", id, name, input: {} } }),
  inputDelta: (index: number, partialJson: string) => ({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: partialJson } }),
  blockStop: (index: number) => ({ type: "content_block_stop", index }),
  ping: { type: "ping" },
  messageDelta: (stopReason: string, outputTokens: number) => ({
    type: "message_delta",
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: outputTokens },
  }),
  messageStop: { type: "message_stop" },

  /** Starts the stream; `send` writes one named event (the event name is the data's type). */
  stream(res: ServerResponse): { send(event: { readonly type: string; readonly [key: string]: unknown }): void; end(): void } {
    res.writeHead(200, anthropic.streamHeaders);
    return {
      send: (event) => writeSplit(res, `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`),
      end: () => res.end(),
    };
  },

  /** Anthropic's error envelope: { type: "error", error: { type, message }, request_id }. */
  error(res: ServerResponse, status: number, type: string, message: string): void {
    json(
      res,
      status,
      { type: "error", error: { type, message }, request_id: "req_011CSHoEeqs5C35K2UUqR7Fy" },
      { "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy", "x-should-retry": String(status === 429 || status >= 500) },
    );
  },
};
