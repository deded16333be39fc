// The one interface every model provider implements (OpenAI-compatible endpoints, Anthropic,
// a scripted file of turns), in the spirit of the MCP SDK's Transport: small, one file per
// implementation, and the agent-session machine never sees which one runs. A provider turns
// the conversation so far and the tools on offer into the model's next turn: text, tool calls,
// or both, with the tokens it cost.

/** A JSON Schema object describing a tool's arguments, as MCP tools and both APIs use them. */
export type JsonSchema = Readonly<Record<string, unknown>>;

export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  readonly inputSchema: JsonSchema;
}

export interface ToolCall {
  /** The provider's id for the call; the tool's result message refers to it. */
  readonly id: string;
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

export type ModelMessage =
  | { readonly role: "system"; readonly content: string }
  | { readonly role: "user"; readonly content: string }
  | { readonly role: "assistant"; readonly content: string; readonly toolCalls?: readonly ToolCall[] }
  | { readonly role: "tool"; readonly toolCallId: string; readonly name: string; readonly content: string; readonly isError?: boolean };

export interface ModelUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

export interface ModelTurn {
  readonly text: string;
  readonly toolCalls: readonly ToolCall[];
  readonly usage: ModelUsage;
  /** Why the model stopped: done talking, wants tools run, or ran out of its token budget. */
  readonly stop: "end" | "tool_calls" | "max_tokens";
}

export interface ModelRequest {
  readonly messages: readonly ModelMessage[];
  readonly tools: readonly ToolSpec[];
  readonly maxTokens?: number;
}

export interface ModelCallOptions {
  /** Aborting cancels the HTTP request (or the scripted wait). */
  readonly signal?: AbortSignal;
  /** Streamed text as it arrives, for the CLI to show. */
  readonly onText?: (delta: string) => void;
}

export interface ModelProvider {
  /** e.g. "openai:gpt-4o-mini", "anthropic:claude-sonnet-4", "script:examples/fix-tests.yaml". */
  readonly name: string;
  complete(request: ModelRequest, options?: ModelCallOptions): Promise<ModelTurn>;
}
