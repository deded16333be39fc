// --model PROVIDER:NAME and --script FILE: each provider's base URL and key, and every bad
// input a UsageError that says what to fix.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AnthropicProvider } from "../../actors/model/anthropic.provider.ts";
import { OpenAIProvider } from "../../actors/model/openai.provider.ts";
import { ScriptedProvider } from "../../actors/model/scripted.provider.ts";
import { ollamaBaseURL, parseModelFlags, selectModel } from "../../src/model-select.ts";
import { UsageError } from "../../core/errors.ts";

const fixture = join(import.meta.dirname, "../fixtures/model/fix-tests.yaml");

function usage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error("expected a UsageError");
}

describe("parseModelFlags", () => {
  it("openai: OpenAI's API with OPENAI_API_KEY, or OPENAI_BASE_URL as the SDK reads it", () => {
    expect(parseModelFlags({ model: "openai:gpt-4o-mini" }, { OPENAI_API_KEY: "sk-1" })).toEqual({
      kind: "openai",
      name: "openai:gpt-4o-mini",
      model: "gpt-4o-mini",
      baseURL: "https://api.openai.com/v1",
      apiKey: "sk-1",
      apiKeyEnv: "OPENAI_API_KEY",
    });
    expect(parseModelFlags({ model: "openai:gpt-4o-mini" }, { OPENAI_BASE_URL: "http://127.0.0.1:4000/v1/" })).toMatchObject({ baseURL: "http://127.0.0.1:4000/v1" });
    expect(usage(() => parseModelFlags({ model: "openai:gpt-4o-mini" }, {}))).toBe(
      "--model openai:gpt-4o-mini needs OPENAI_API_KEY in the environment (for a local model, use ollama:NAME)",
    );
  });

  it("anthropic: ANTHROPIC_API_KEY, and ANTHROPIC_BASE_URL", () => {
    expect(parseModelFlags({ model: "anthropic:claude-sonnet-4-6" }, { ANTHROPIC_API_KEY: "sk-ant" })).toEqual({
      kind: "anthropic",
      name: "anthropic:claude-sonnet-4-6",
      model: "claude-sonnet-4-6",
      apiKey: "sk-ant",
    });
    expect(parseModelFlags({ model: "anthropic:claude-haiku-4-5" }, { ANTHROPIC_BASE_URL: "http://127.0.0.1:9000" })).toEqual({
      kind: "anthropic",
      name: "anthropic:claude-haiku-4-5",
      model: "claude-haiku-4-5",
      baseURL: "http://127.0.0.1:9000",
    });
    expect(usage(() => parseModelFlags({ model: "anthropic:claude-sonnet-4-6" }, {}))).toBe("--model anthropic:claude-sonnet-4-6 needs ANTHROPIC_API_KEY in the environment");
  });

  it("ollama: the local server, no key (never the OpenAI one), model names with tags kept whole", () => {
    expect(parseModelFlags({ model: "ollama:qwen2.5-coder:7b" }, { OPENAI_API_KEY: "sk-1" })).toEqual({
      kind: "openai",
      name: "ollama:qwen2.5-coder:7b",
      model: "qwen2.5-coder:7b",
      baseURL: "http://127.0.0.1:11434/v1",
      apiKeyEnv: "IRONCLAW_MODEL_API_KEY",
    });
    expect(parseModelFlags({ model: "ollama:llama3.2" }, { OLLAMA_HOST: "gpu-box:11500" })).toMatchObject({ baseURL: "http://gpu-box:11500/v1" });
  });

  it.each([
    ["127.0.0.1", "http://127.0.0.1:11434/v1"],
    ["0.0.0.0", "http://127.0.0.1:11434/v1"],
    [":8080", "http://127.0.0.1:8080/v1"],
    ["example.com:80", "http://example.com/v1"],
    ["https://ollama.example.com", "https://ollama.example.com/v1"],
    ["http://10.0.0.5:11434/", "http://10.0.0.5:11434/v1"],
    ["[::1]", "http://[::1]:11434/v1"],
  ])("reads OLLAMA_HOST=%s as %s", (host, url) => {
    expect(ollamaBaseURL(host)).toBe(url);
  });

  it("openai-compatible: NAME@URL, with IRONCLAW_MODEL_API_KEY and never OPENAI_API_KEY", () => {
    expect(parseModelFlags({ model: "openai-compatible:Qwen/Qwen2.5-7B@http://127.0.0.1:8000/v1" }, { OPENAI_API_KEY: "sk-1" })).toEqual({
      kind: "openai",
      name: "openai-compatible:Qwen/Qwen2.5-7B@http://127.0.0.1:8000/v1",
      model: "Qwen/Qwen2.5-7B",
      baseURL: "http://127.0.0.1:8000/v1",
      apiKeyEnv: "IRONCLAW_MODEL_API_KEY",
    });
    expect(parseModelFlags({ model: "openai-compatible:m@v2@https://api.example.com/v1" }, { IRONCLAW_MODEL_API_KEY: "k" })).toMatchObject({
      model: "m@v2",
      baseURL: "https://api.example.com/v1",
      apiKey: "k",
    });
  });

  it("--script FILE", () => {
    expect(parseModelFlags({ script: "turns.yaml" }, {})).toEqual({ kind: "script", name: "script:turns.yaml", file: "turns.yaml" });
  });

  it.each([
    [
      {},
      "no model: pass --model PROVIDER:NAME (e.g. ollama:llama3.2, openai:gpt-4o-mini, anthropic:claude-sonnet-4-6, openai-compatible:NAME@http://127.0.0.1:8080/v1) or --script FILE",
    ],
    [{ model: "ollama:x", script: "s.yaml" }, "--model and --script both given: a run talks to one model; pass one of them"],
    [{ model: "llama3.2" }, "--model llama3.2: say which provider serves it, e.g. ollama:llama3.2"],
    [{ model: "gemini:pro" }, '--model gemini:pro: unknown provider "gemini"; use one of openai, anthropic, ollama, openai-compatible'],
    [{ model: "ollama:" }, '--model ollama:: the model name after "ollama:" is missing'],
    [{ model: "ollama:llama 3" }, '--model ollama:llama 3: the model name after "ollama:" is not a name (it has spaces)'],
    [{ model: "openai-compatible:qwen" }, "--model openai-compatible:qwen: say where the server is, as openai-compatible:NAME@URL"],
    [{ model: "openai-compatible:@http://127.0.0.1:8000/v1" }, '--model openai-compatible:@http://127.0.0.1:8000/v1: the model name after "openai-compatible:" is missing'],
    [{ model: "openai-compatible:q@http://" }, '--model openai-compatible:q@http://: "http://" is not a URL; write it as http://host:port/v1'],
    [{ script: " " }, "--script needs a file of model turns (JSON or YAML; see docs/models.md)"],
  ])("refuses %j", (flags, message) => {
    expect(usage(() => parseModelFlags(flags, {}))).toContain(message);
  });

  it("refuses a base URL in the environment that is not http(s)", () => {
    expect(usage(() => parseModelFlags({ model: "openai:gpt-4o-mini" }, { OPENAI_BASE_URL: "ftp://x/v1" }))).toBe(
      "OPENAI_BASE_URL: the URL must start with http:// or https://, got ftp:",
    );
    expect(usage(() => parseModelFlags({ model: "ollama:x" }, { OLLAMA_HOST: "http://[bad" }))).toContain("OLLAMA_HOST=http://[bad: not a host[:port] or URL");
  });
});

describe("selectModel", () => {
  it("builds the provider asked for", async () => {
    const ollama = await selectModel({ model: "ollama:llama3.2" }, {});
    expect(ollama).toBeInstanceOf(OpenAIProvider);
    expect(ollama.name).toBe("ollama:llama3.2");
    expect(await selectModel({ model: "anthropic:claude-sonnet-4-6" }, { ANTHROPIC_API_KEY: "k" })).toBeInstanceOf(AnthropicProvider);
    const script = await selectModel({ script: fixture }, {});
    expect(script).toBeInstanceOf(ScriptedProvider);
    expect(script.name).toBe(`script:${fixture}`);
  });

  it("reports a script that is missing or invalid as a usage error, before anything starts", async () => {
    await expect(selectModel({ script: "/nonexistent/turns.yaml" }, {})).rejects.toThrow(new UsageError("--script /nonexistent/turns.yaml: cannot read the script (ENOENT)"));
    await expect(selectModel({ script: join(import.meta.dirname, "model-select.test.ts") }, {})).rejects.toBeInstanceOf(UsageError);
  });
});
