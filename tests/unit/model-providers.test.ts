// The OpenAI-compatible and Anthropic providers, through the real `openai` and
// `@anthropic-ai/sdk` clients. The hosted APIs cannot be reached from here, so the servers these
// tests talk to are test doubles (tests/support/model-api-doubles.ts): local HTTP servers on
// 127.0.0.1 that answer in each provider's real wire format — server-sent events exactly as
// OpenAI's chat completions stream and Anthropic's messages stream produce them, tool-call
// pieces split across chunks, usage, and each API's real error bodies.
import { afterEach, describe, expect, it } from "vitest";
import { AnthropicProvider } from "../../actors/model/anthropic.provider.ts";
import { type ModelMessage, type ModelRequest, type ToolSpec } from "../../core/model.ts";
import { OpenAIProvider } from "../../actors/model/openai.provider.ts";
import { anthropic, closedPort, openai, startApiDouble, type ApiDouble, type Handler } from "../support/model-api-doubles.ts";
import { ModelError } from "../../core/errors.ts";

const doubles: ApiDouble[] = [];
afterEach(async () => {
  await Promise.all(doubles.splice(0).map((d) => d.close()));
});
async function serve(handler: Handler): Promise<ApiDouble> {
  const d = await startApiDouble(handler);
  doubles.push(d);
  return d;
}

const readFile: ToolSpec = {
  name: "read_file",
  description: "Read a file of the project",
  inputSchema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] },
};
const hello: ModelRequest = { messages: [{ role: "user", content: "Say hello." }], tools: [] };

/** A conversation with every kind of message, to check how each is put on the wire. */
const conversation: ModelMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "What is in a.txt and b.txt?" },
  {
    role: "assistant",
    content: "",
    toolCalls: [
      { id: "call_1", name: "read_file", arguments: { path: "a.txt" } },
      { id: "call_2", name: "read_file", arguments: { path: "b.txt" } },
    ],
  },
  { role: "tool", toolCallId: "call_1", name: "read_file", content: "alpha" },
  { role: "tool", toolCallId: "call_2", name: "read_file", content: "no such file", isError: true },
];

async function failure(promise: Promise<unknown>): Promise<ModelError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelError);
  return err as ModelError;
}

describe("OpenAIProvider", () => {
  const provider = (d: ApiDouble, extra: Partial<ConstructorParameters<typeof OpenAIProvider>[0]> = {}) =>
    new OpenAIProvider({ model: "gpt-4o-mini", baseURL: `${d.origin}/v1`, apiKey: "sk-test", maxRetries: 0, ...extra });

  it("streams text through onText in order and reports the usage the server sent", async () => {
    const d = await serve((_req, res) =>
      openai.answer(
        res,
        ["Hel", "lo", ", ", "world", "."].map((content) => ({ content })),
        "stop",
        [21, 5],
      ),
    );
    const seen: string[] = [];
    const turn = await provider(d).complete(hello, { onText: (t) => seen.push(t) });
    expect(seen).toEqual(["Hel", "lo", ", ", "world", "."]);
    expect(turn).toEqual({ text: "Hello, world.", toolCalls: [], usage: { inputTokens: 21, outputTokens: 5 }, stop: "end" });
    const [req] = d.requests;
    expect(req!.path).toBe("/v1/chat/completions");
    expect(req!.headers.authorization).toBe("Bearer sk-test");
    expect(req!.body).toMatchObject({ model: "gpt-4o-mini", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "Say hello." }] });
    expect(req!.body).not.toHaveProperty("tools");
  });

  it("assembles tool calls whose ids, names and arguments arrive over several chunks", async () => {
    const d = await serve((_req, res) =>
      openai.answer(
        res,
        [
          { content: "Reading both." },
          openai.toolCallStart(0, "call_DdmO9pD3xa9XTPNJ32zg2hcA", "read_file"),
          openai.toolCallArguments(0, '{"pa'),
          openai.toolCallArguments(0, 'th": "src/'),
          openai.toolCallStart(1, "call_R9kF2bQ7wLm3nP8sT1vX4yZ0", "read_file"),
          openai.toolCallArguments(1, '{"path"'),
          openai.toolCallArguments(0, 'a.ts"}'),
          openai.toolCallArguments(1, ': "src/b.ts"}'),
        ],
        "tool_calls",
        [80, 41],
      ),
    );
    const turn = await provider(d).complete({ messages: [{ role: "user", content: "Read src/a.ts and src/b.ts" }], tools: [readFile] });
    expect(turn.text).toBe("Reading both.");
    expect(turn.stop).toBe("tool_calls");
    expect(turn.toolCalls).toEqual([
      { id: "call_DdmO9pD3xa9XTPNJ32zg2hcA", name: "read_file", arguments: { path: "src/a.ts" } },
      { id: "call_R9kF2bQ7wLm3nP8sT1vX4yZ0", name: "read_file", arguments: { path: "src/b.ts" } },
    ]);
    expect(turn.usage).toEqual({ inputTokens: 80, outputTokens: 41 });
    expect(d.requests[0]!.body.tools).toEqual([{ type: "function", function: { name: "read_file", description: "Read a file of the project", parameters: readFile.inputSchema } }]);
  });

  it("puts assistant tool calls and tool results on the wire as the API wants them", async () => {
    const d = await serve((_req, res) => openai.answer(res, [{ content: "alpha; b.txt is missing" }], "stop"));
    await provider(d).complete({ messages: conversation, tools: [readFile], maxTokens: 300 });
    const body = d.requests[0]!.body;
    expect(body.messages).toEqual([
      { role: "system", content: "You are terse." },
      { role: "user", content: "What is in a.txt and b.txt?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "read_file", arguments: '{"path":"a.txt"}' } },
          { id: "call_2", type: "function", function: { name: "read_file", arguments: '{"path":"b.txt"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "alpha" },
      { role: "tool", tool_call_id: "call_2", content: "Error: no such file" },
    ]);
    // Not OpenAI's own endpoint: the field every compatible server knows.
    expect(body.max_tokens).toBe(300);
  });

  it("maps finish_reason length to max_tokens", async () => {
    const d = await serve((_req, res) => openai.answer(res, [{ content: "The answer is" }], "length"));
    expect((await provider(d).complete(hello)).stop).toBe("max_tokens");
  });

  it("treats tool calls that end with finish_reason stop (as some local servers send) as tool calls", async () => {
    const d = await serve((_req, res) =>
      openai.answer(res, [{ tool_calls: [{ index: 0, id: "call_x", type: "function", function: { name: "read_file", arguments: '{"path":"a"}' } }] }], "stop"),
    );
    const turn = await provider(d).complete({ ...hello, tools: [readFile] });
    expect(turn.stop).toBe("tool_calls");
    expect(turn.toolCalls).toEqual([{ id: "call_x", name: "read_file", arguments: { path: "a" } }]);
  });

  it("turns malformed tool-call arguments into a clear ModelError", async () => {
    const d = await serve((_req, res) => openai.answer(res, [openai.toolCallStart(0, "call_1", "read_file"), openai.toolCallArguments(0, '{"path": src/a.ts}')], "tool_calls"));
    const err = await failure(provider(d).complete({ ...hello, tools: [readFile] }));
    expect(err.code).toBe("bad_tool_arguments");
    expect(err.message).toMatch(/^openai:gpt-4o-mini: the arguments of the call to read_file are not a JSON object \(\{"path": src\/a\.ts\}\): .*try another model$/);
    expect(err.message).not.toContain("\n");
  });

  it("without usage from the server (stream_options refused), retries without it and estimates the tokens", async () => {
    const d = await serve((req, res) => {
      if (req.body.stream_options) return openai.error(res, 400, { message: "Unrecognized request argument supplied: stream_options", type: "invalid_request_error", code: null });
      openai.answer(res, [{ content: "12345678" }], "stop", null);
    });
    const p = provider(d);
    const turn = await p.complete(hello);
    expect(turn.text).toBe("12345678");
    expect(turn.usage.outputTokens).toBe(2); // 8 characters, about 4 a token
    expect(turn.usage.inputTokens).toBeGreaterThan(0);
    await p.complete(hello);
    expect(d.requests.map((r) => "stream_options" in r.body)).toEqual([true, false, false]);
  });

  it("reports a refused key (OpenAI's real 401 body) as one line that names the variable to set", async () => {
    const d = await serve((_req, res) => openai.error(res, 401, openai.invalidKey));
    const err = await failure(provider(d, { maxRetries: 2 }).complete(hello));
    expect(err.code).toBe("auth");
    expect(err.message).toBe(`openai:gpt-4o-mini: ${d.origin}/v1 refused the API key (401: ${openai.invalidKey.message}); set OPENAI_API_KEY to a valid key`);
    expect(d.requests).toHaveLength(1); // a 401 is not retried
  });

  it("lets the SDK retry a 429 as configured, then says so", async () => {
    const d = await serve((_req, res) => openai.error(res, 429, openai.rateLimited, { "retry-after-ms": "1" }));
    const err = await failure(provider(d, { maxRetries: 1 }).complete(hello));
    expect(err.code).toBe("rate_limited");
    expect(err.message).toContain("rate limited or out of quota (429: Rate limit reached for gpt-4o-mini");
    expect(err.message).toContain("(after 1 retry)");
    expect(d.requests).toHaveLength(2);
  });

  it("reports a server that drops the connection mid-stream, keeping nothing of the half answer", async () => {
    const d = await serve((_req, res) => {
      const s = openai.stream(res);
      s.send(openai.chunk({ role: "assistant", content: "" }));
      s.send(openai.chunk({ content: "Half an" }));
      s.send(openai.chunk(openai.toolCallStart(0, "call_1", "read_file")));
      res.write("", () => res.socket?.destroy());
    });
    const seen: string[] = [];
    const err = await failure(provider(d).complete(hello, { onText: (t) => seen.push(t) }));
    expect(seen).toEqual(["Half an"]);
    expect(err.code).toBe("stream_broken");
    expect(err.message).toMatch(new RegExp(`^openai:gpt-4o-mini: the answer from ${d.origin}/v1 broke off \\(.+\\); try again$`));
  });

  it("reports a stream that ends cleanly before the model finished", async () => {
    const d = await serve((_req, res) => {
      const s = openai.stream(res);
      s.send(openai.chunk({ content: "Half" }));
      res.end();
    });
    const err = await failure(provider(d).complete(hello));
    expect(err.code).toBe("stream_broken");
    expect(err.message).toBe(`openai:gpt-4o-mini: ${d.origin}/v1 ended the answer before the model finished; try again`);
  });

  it("reports a server that is not there (connection refused)", async () => {
    const port = await closedPort();
    const p = new OpenAIProvider({ model: "llama3.2", name: "ollama:llama3.2", baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
    const err = await failure(p.complete(hello));
    expect(err.code).toBe("unreachable");
    expect(err.message).toBe(`ollama:llama3.2: cannot connect to http://127.0.0.1:${port}/v1 (connection refused); is the server running at that address?`);
  });

  it("reports a server that never answers as a timeout", async () => {
    const d = await serve(() => {}); // holds the request forever
    const err = await failure(provider(d, { timeoutMs: 200 }).complete(hello));
    expect(err.code).toBe("timeout");
    expect(err.message).toContain(`no answer from ${d.origin}/v1 within 200 ms`);
  });

  it("cancels the request when the signal is aborted mid-stream", async () => {
    const d = await serve((_req, res) => {
      const s = openai.stream(res);
      s.send(openai.chunk({ role: "assistant", content: "" }));
      s.send(openai.chunk({ content: "Thinking" }));
      // …and nothing more until the client goes away.
    });
    const controller = new AbortController();
    const err = await failure(provider(d).complete(hello, { signal: controller.signal, onText: () => controller.abort() }));
    expect(err.code).toBe("aborted");
    await d.requests[0]!.closed; // the server saw the connection go
  });

  it("does not start a request when the signal is already aborted", async () => {
    const d = await serve((_req, res) => openai.answer(res, [{ content: "x" }], "stop"));
    const err = await failure(provider(d).complete(hello, { signal: AbortSignal.abort() }));
    expect(err.code).toBe("aborted");
    expect(d.requests).toHaveLength(0);
  });

  it("needs a key only for OpenAI's own endpoint, and sends a placeholder elsewhere", async () => {
    expect(() => new OpenAIProvider({ model: "gpt-4o-mini", env: {} })).toThrow(/OpenAI's API needs a key; set OPENAI_API_KEY/);
    const d = await serve((_req, res) => openai.answer(res, [{ content: "hi" }], "stop"));
    await new OpenAIProvider({ model: "llama3.2", baseURL: `${d.origin}/v1`, env: { OPENAI_API_KEY: "sk-real", OPENAI_ORG_ID: "org-secret" } }).complete(hello);
    expect(d.requests[0]!.headers.authorization).toBe("Bearer ironclaw-no-key");
    expect(d.requests[0]!.headers).not.toHaveProperty("openai-organization");
  });
});

describe("AnthropicProvider", () => {
  const provider = (d: ApiDouble, extra: Partial<ConstructorParameters<typeof AnthropicProvider>[0]> = {}) =>
    new AnthropicProvider({ model: "claude-sonnet-4-6", baseURL: d.origin, apiKey: "sk-ant-test", maxRetries: 0, ...extra });

  it("streams text through onText in order and reports usage, cached input included", async () => {
    const d = await serve((_req, res) => {
      const s = anthropic.stream(res);
      s.send(anthropic.messageStart(25, { read: 100 }));
      s.send(anthropic.textStart(0));
      s.send(anthropic.ping);
      for (const t of ["Hel", "lo", ", world."]) s.send(anthropic.textDelta(0, t));
      s.send(anthropic.blockStop(0));
      s.send(anthropic.messageDelta("end_turn", 15));
      s.send(anthropic.messageStop);
      s.end();
    });
    const seen: string[] = [];
    const turn = await provider(d).complete({ messages: [{ role: "system", content: "Be brief." }, ...hello.messages], tools: [] }, { onText: (t) => seen.push(t) });
    expect(seen).toEqual(["Hel", "lo", ", world."]);
    expect(turn).toEqual({ text: "Hello, world.", toolCalls: [], usage: { inputTokens: 125, outputTokens: 15 }, stop: "end" });
    const [req] = d.requests;
    expect(req!.path).toBe("/v1/messages");
    expect(req!.body).toEqual({
      model: "claude-sonnet-4-6",
      max_tokens: 8192,
      stream: true,
      system: "Be brief.",
      messages: [{ role: "user", content: [{ type: "text", text: "Say hello." }] }],
    });
  });

  it("assembles a tool_use whose input arrives in several input_json_delta pieces", async () => {
    const d = await serve((_req, res) => {
      const s = anthropic.stream(res);
      s.send(anthropic.messageStart(472));
      s.send(anthropic.textStart(0));
      s.send(anthropic.textDelta(0, "Let me read it."));
      s.send(anthropic.blockStop(0));
      s.send(anthropic.toolUseStart(1, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "read_file"));
      for (const piece of ["", '{"pat', 'h": "sr', 'c/a.ts"', "}"]) s.send(anthropic.inputDelta(1, piece));
      s.send(anthropic.blockStop(1));
      s.send(anthropic.toolUseStart(2, "toolu_01A09q90qw90lq917835lq9", "list_dir"));
      s.send(anthropic.blockStop(2)); // a call without arguments sends no input at all
      s.send(anthropic.messageDelta("tool_use", 89));
      s.send(anthropic.messageStop);
      s.end();
    });
    const listDir: ToolSpec = { name: "list_dir", description: "List the project", inputSchema: { type: "object", properties: {} } };
    const turn = await provider(d).complete({ messages: hello.messages, tools: [readFile, listDir] });
    expect(turn).toEqual({
      text: "Let me read it.",
      toolCalls: [
        { id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "read_file", arguments: { path: "src/a.ts" } },
        { id: "toolu_01A09q90qw90lq917835lq9", name: "list_dir", arguments: {} },
      ],
      usage: { inputTokens: 472, outputTokens: 89 },
      stop: "tool_calls",
    });
    expect(d.requests[0]!.body.tools).toEqual([
      { name: "read_file", description: "Read a file of the project", input_schema: readFile.inputSchema },
      { name: "list_dir", description: "List the project", input_schema: listDir.inputSchema },
    ]);
  });

  it("sends tool calls as tool_use blocks, results as tool_result blocks in one user turn, and system apart", async () => {
    const d = await serve((_req, res) => {
      const s = anthropic.stream(res);
      s.send(anthropic.messageStart(10));
      s.send(anthropic.messageDelta("end_turn", 1));
      s.send(anthropic.messageStop);
      s.end();
    });
    await provider(d).complete({ messages: [...conversation, { role: "user", content: "Now summarise." }], tools: [readFile], maxTokens: 300 });
    const body = d.requests[0]!.body;
    expect(body.system).toBe("You are terse.");
    expect(body.max_tokens).toBe(300);
    expect(body.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "What is in a.txt and b.txt?" }] },
      {
        role: "assistant",
        content: [
          { type: "tool_use", id: "call_1", name: "read_file", input: { path: "a.txt" } },
          { type: "tool_use", id: "call_2", name: "read_file", input: { path: "b.txt" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "call_1", content: "alpha" },
          { type: "tool_result", tool_use_id: "call_2", content: "no such file", is_error: true },
          { type: "text", text: "Now summarise." },
        ],
      },
    ]);
  });

  it("maps stop_reason max_tokens", async () => {
    const d = await serve((_req, res) => {
      const s = anthropic.stream(res);
      s.send(anthropic.messageStart(10));
      s.send(anthropic.textStart(0));
      s.send(anthropic.textDelta(0, "The answer is"));
      s.send(anthropic.blockStop(0));
      s.send(anthropic.messageDelta("max_tokens", 3));
      s.send(anthropic.messageStop);
      s.end();
    });
    expect((await provider(d).complete(hello)).stop).toBe("max_tokens");
  });

  it("reports a refused key (Anthropic's real 401 body) as one line that names the variable to set", async () => {
    const d = await serve((_req, res) => anthropic.error(res, 401, "authentication_error", "invalid x-api-key"));
    const err = await failure(provider(d, { maxRetries: 2 }).complete(hello));
    expect(err.code).toBe("auth");
    expect(err.message).toBe(`anthropic:claude-sonnet-4-6: ${d.origin} refused the API key (401 authentication_error: invalid x-api-key); set ANTHROPIC_API_KEY to a valid key`);
    expect(d.requests).toHaveLength(1);
  });

  it("reports an error event inside the stream (overloaded)", async () => {
    const d = await serve((_req, res) => {
      const s = anthropic.stream(res);
      s.send(anthropic.messageStart(10));
      s.send(anthropic.textStart(0));
      s.send(anthropic.textDelta(0, "Work"));
      s.send({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
      s.end();
    });
    const err = await failure(provider(d).complete(hello));
    expect(err.code).toBe("overloaded");
    expect(err.message).toBe("anthropic:claude-sonnet-4-6: the answer failed mid-stream (overloaded_error: Overloaded); try again");
  });

  it("reports a server that drops the connection mid-stream", async () => {
    const d = await serve((_req, res) => {
      const s = anthropic.stream(res);
      s.send(anthropic.messageStart(10));
      s.send(anthropic.toolUseStart(0, "toolu_1", "read_file"));
      s.send(anthropic.inputDelta(0, '{"path": "sr'));
      res.write("", () => res.socket?.destroy());
    });
    const err = await failure(provider(d).complete(hello));
    expect(err.code).toBe("stream_broken");
    expect(err.message).toMatch(new RegExp(`^anthropic:claude-sonnet-4-6: the answer from ${d.origin} broke off \\(.+\\); try again$`));
  });

  it("cancels the request when the signal is aborted mid-stream", async () => {
    const d = await serve((_req, res) => {
      const s = anthropic.stream(res);
      s.send(anthropic.messageStart(10));
      s.send(anthropic.textStart(0));
      s.send(anthropic.textDelta(0, "Thinking"));
    });
    const controller = new AbortController();
    const err = await failure(provider(d).complete(hello, { signal: controller.signal, onText: () => controller.abort() }));
    expect(err.code).toBe("aborted");
    await d.requests[0]!.closed;
  });

  it("needs ANTHROPIC_API_KEY for Anthropic's own API", () => {
    expect(() => new AnthropicProvider({ model: "claude-sonnet-4-6", env: {} })).toThrow(/set ANTHROPIC_API_KEY/);
  });
});
