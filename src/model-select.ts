// Which model a run talks to, from the command line (docs/models.md):
//
//   --model openai:gpt-4o-mini                         OpenAI (OPENAI_API_KEY; OPENAI_BASE_URL honoured)
//   --model anthropic:claude-sonnet-4-6                Anthropic (ANTHROPIC_API_KEY; ANTHROPIC_BASE_URL honoured)
//   --model ollama:llama3.2                            Ollama's OpenAI-compatible API (OLLAMA_HOST honoured)
//   --model openai-compatible:NAME@http://host:port/v1 any other OpenAI-compatible server
//   --script FILE                                      a scripted model (JSON or YAML turns)
//
// A bad flag is a UsageError naming what to fix, raised before anything starts. Keys are read
// from the environment only, never from flags (which other users can see in `ps`). The
// OpenAI key goes to OpenAI's endpoint (or the one OPENAI_BASE_URL names, as the SDK does);
// an openai-compatible server gets IRONCLAW_MODEL_API_KEY instead, so naming some server on the
// command line never hands it the user's OpenAI key.
import type { ModelProvider } from "../core/model.ts";
import { ModelError, UsageError } from "../core/errors.ts";

export const OLLAMA_BASE_URL = "http://127.0.0.1:11434/v1";
/** The key for an openai-compatible server (optional: local servers usually want none). */
export const MODEL_API_KEY_ENV = "IRONCLAW_MODEL_API_KEY";
export const PROVIDERS = ["openai", "anthropic", "ollama", "openai-compatible"] as const;

export interface ModelFlags {
  readonly model?: string | undefined;
  readonly script?: string | undefined;
}

export type ModelChoice =
  | {
      readonly kind: "openai";
      /** What the run is called in logs and errors, e.g. "ollama:llama3.2". */
      readonly name: string;
      readonly model: string;
      readonly baseURL: string;
      /** Absent: the provider decides (the key is required only by OpenAI's own endpoint). */
      readonly apiKey?: string;
      /** The variable to name when the key is refused. */
      readonly apiKeyEnv: string;
    }
  | { readonly kind: "anthropic"; readonly name: string; readonly model: string; readonly baseURL?: string; readonly apiKey?: string }
  | { readonly kind: "script"; readonly name: string; readonly file: string };

const EXAMPLES = "e.g. ollama:llama3.2, openai:gpt-4o-mini, anthropic:claude-sonnet-4-6, openai-compatible:NAME@http://127.0.0.1:8080/v1";

/** Reads --model / --script (without building anything); throws UsageError. */
export function parseModelFlags(flags: ModelFlags, env: NodeJS.ProcessEnv = process.env): ModelChoice {
  if (flags.model !== undefined && flags.script !== undefined) throw new UsageError("--model and --script both given: a run talks to one model; pass one of them");
  if (flags.script !== undefined) {
    if (flags.script.trim() === "") throw new UsageError("--script needs a file of model turns (JSON or YAML; see docs/models.md)");
    return { kind: "script", name: `script:${flags.script}`, file: flags.script };
  }
  if (flags.model === undefined) throw new UsageError(`no model: pass --model PROVIDER:NAME (${EXAMPLES}) or --script FILE`);
  const spec = flags.model.trim();
  const colon = spec.indexOf(":");
  if (colon < 0) throw new UsageError(`--model ${spec}: say which provider serves it, ${EXAMPLES}`);
  const provider = spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  const named = (model: string) => {
    if (model === "" || /\s/.test(model))
      throw new UsageError(`--model ${spec}: the model name after "${provider}:" is ${model === "" ? "missing" : "not a name (it has spaces)"}; ${EXAMPLES}`);
    return model;
  };
  switch (provider) {
    case "openai": {
      const model = named(rest);
      const baseURL = env.OPENAI_BASE_URL ? httpURL(env.OPENAI_BASE_URL, "OPENAI_BASE_URL") : "https://api.openai.com/v1";
      const apiKey = env.OPENAI_API_KEY || undefined;
      if (!apiKey && new URL(baseURL).hostname === "api.openai.com")
        throw new UsageError(`--model ${spec} needs OPENAI_API_KEY in the environment (for a local model, use ollama:NAME)`);
      return { kind: "openai", name: spec, model, baseURL, apiKeyEnv: "OPENAI_API_KEY", ...(apiKey && { apiKey }) };
    }
    case "anthropic": {
      const model = named(rest);
      const baseURL = env.ANTHROPIC_BASE_URL ? httpURL(env.ANTHROPIC_BASE_URL, "ANTHROPIC_BASE_URL") : undefined;
      const apiKey = env.ANTHROPIC_API_KEY || undefined;
      if (!apiKey && baseURL === undefined) throw new UsageError(`--model ${spec} needs ANTHROPIC_API_KEY in the environment`);
      return { kind: "anthropic", name: spec, model, ...(baseURL && { baseURL }), ...(apiKey && { apiKey }) };
    }
    case "ollama":
      return { kind: "openai", name: spec, model: named(rest), baseURL: env.OLLAMA_HOST ? ollamaBaseURL(env.OLLAMA_HOST) : OLLAMA_BASE_URL, apiKeyEnv: MODEL_API_KEY_ENV };
    case "openai-compatible": {
      // The URL starts at the first "@http": model names may hold "@" (rarely), URLs rarely "@http".
      const at = rest.search(/@https?:\/\//i);
      if (at < 0) throw new UsageError(`--model ${spec}: say where the server is, as openai-compatible:NAME@URL (e.g. openai-compatible:qwen2.5-coder@http://127.0.0.1:8080/v1)`);
      const model = named(rest.slice(0, at));
      const baseURL = httpURL(rest.slice(at + 1), `--model ${spec}`);
      const apiKey = env[MODEL_API_KEY_ENV] || undefined;
      return { kind: "openai", name: spec, model, baseURL, apiKeyEnv: MODEL_API_KEY_ENV, ...(apiKey && { apiKey }) };
    }
    default:
      throw new UsageError(`--model ${spec}: unknown provider "${provider}"; use one of ${PROVIDERS.join(", ")} (${EXAMPLES})`);
  }
}

/**
 * The provider for the flags. The SDKs are loaded only for the provider asked for: a command
 * that runs no model does not pay for them at start-up. A script is read and checked here, so a
 * bad one is a usage error before any sandbox starts.
 */
export async function selectModel(flags: ModelFlags, env: NodeJS.ProcessEnv = process.env): Promise<ModelProvider> {
  const choice = parseModelFlags(flags, env);
  try {
    switch (choice.kind) {
      case "openai": {
        const { OpenAIProvider } = await import("../actors/model/openai.provider.ts");
        return new OpenAIProvider({ ...choice, env });
      }
      case "anthropic": {
        const { AnthropicProvider } = await import("../actors/model/anthropic.provider.ts");
        return new AnthropicProvider({ ...choice, env });
      }
      case "script": {
        const { ScriptedProvider } = await import("../actors/model/scripted.provider.ts");
        return ScriptedProvider.fromFile(choice.file);
      }
    }
  } catch (err) {
    if (err instanceof ModelError) throw new UsageError(`${choice.kind === "script" ? "--script " : ""}${err.message}`);
    throw err;
  }
}

function httpURL(text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${where}: ${JSON.stringify(text)} is not a URL; write it as http://host:port/v1`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`${where}: the URL must start with http:// or https://, got ${url.protocol}`);
  return text.replace(/\/+$/, "");
}

/**
 * OLLAMA_HOST as Ollama itself reads it — "host", "host:port", ":port" (port 11434 when none)
 * or a URL (its scheme's port when none) — plus the /v1 its OpenAI-compatible API lives under.
 * A server bound to 0.0.0.0 is reached on 127.0.0.1.
 */
export function ollamaBaseURL(host: string): string {
  const trimmed = host.trim();
  const schemed = /^https?:\/\//i.test(trimmed);
  let url: URL;
  try {
    url = new URL(schemed ? trimmed : `http://${trimmed.startsWith(":") ? `127.0.0.1${trimmed}` : trimmed}`);
  } catch {
    throw new UsageError(`OLLAMA_HOST=${host}: not a host[:port] or URL; unset it to use ${OLLAMA_BASE_URL}`);
  }
  if (url.hostname === "0.0.0.0" || url.hostname === "[::]") url.hostname = "127.0.0.1";
  if (!schemed && !/:\d+(\/|$)/.test(trimmed)) url.port = "11434";
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.protocol}//${url.host}${path.endsWith("/v1") ? path : `${path}/v1`}`;
}
