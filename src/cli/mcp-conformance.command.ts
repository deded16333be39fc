// `ironclaw mcp conformance-client URL`: IronClaw's MCP client as the official conformance
// harness (@modelcontextprotocol/conformance, client mode) drives it. The harness starts a
// scenario server, runs this command with its URL last and the scenario's name in
// MCP_CONFORMANCE_SCENARIO, and judges what the server saw. Everything goes through the same
// path as `mcp call`: config entry → connection actor under the orchestrator → SDK session;
// OAuth runs headlessly (the scenarios' authorization endpoints redirect at once).
import type { HttpServerConfig } from "../../core/mcp-server.ts";
import { IronclawOAuthProvider } from "../../actors/mcp/mcp-oauth.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import { logFile } from "../logger.ts";
import { withRuntime } from "../service/with-runtime.ts";
import { say } from "./cli-io.ts";
import { UsageError } from "../../core/errors.ts";

/** The client ID metadata document the suite's auth/basic-cimd scenario expects (a test fixture URL). */
const CONFORMANCE_CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json";

type Step = (call: (tool: string, args?: Record<string, unknown>) => Promise<unknown>, tools: readonly Readonly<Record<string, unknown>>[]) => Promise<void>;

/** What each client scenario asks of the client once it is connected (connecting and tools/list come first for all). */
const SCENARIOS: Record<string, Step> = {
  initialize: async () => {},
  tools_call: async (call, tools) => {
    if (tools.some((t) => t.name === "add_numbers")) await call("add_numbers", { a: 5, b: 3 });
  },
  // Accepts with nothing filled in: the schema's defaults are applied (the client declares applyDefaults).
  "elicitation-sep1034-client-defaults": async (call) => void (await call("test_client_elicitation_defaults")),
  "sse-retry": async (call) => void (await call("test_reconnection")),
};
const authScenario: Step = async (call) => void (await call("test-tool"));

export async function runMcpConformanceClient(url: string, opts: { verbose: boolean }): Promise<number> {
  const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? "";
  const step = SCENARIOS[scenario] ?? (scenario.startsWith("auth/") ? authScenario : undefined);
  if (!step) throw new UsageError(`unknown conformance scenario ${JSON.stringify(scenario)} (set MCP_CONFORMANCE_SCENARIO; known: ${Object.keys(SCENARIOS).join(", ")}, auth/*)`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`conformance-client needs the scenario server's URL, got ${JSON.stringify(url)}`);
  }
  const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? "{}") as { client_id?: string; client_secret?: string };
  const server: HttpServerConfig = {
    name: "conformance",
    source: "MCP_CONFORMANCE_SCENARIO",
    transport: "http",
    url: parsed,
    headers: {},
    legacySse: false,
    oauth: null,
    timeoutMs: 30_000,
    idempotentTools: [],
    trusted: false,
  };
  const oauth = () =>
    new IronclawOAuthProvider({
      mode: "headless",
      clientMetadataUrl: CONFORMANCE_CLIENT_METADATA_URL,
      ...(context.client_id && { preRegistered: { clientId: context.client_id, ...(context.client_secret && { clientSecret: context.client_secret }) } }),
    });
  const ended = await withRuntime(
    {
      verbose: opts.verbose,
      command: "mcp conformance-client",
      reason: "conformance scenario done",
      runtime: { mcp: { servers: [server], elicit: async () => ({ action: "accept", content: {} }), oauth } },
      onSignal: "orchestrated",
      onCrash: (err) => say(`internal error: ${err.message} (see ${logFile()})`),
    },
    async ({ runtime, service }) => {
      runtime.mcp.connect([server.name]);
      try {
        const tools = await service.mcp.tools(server.name);
        await step((tool, args = {}) => runtime.mcp.call(server.name, tool, args), tools);
        return ExitCode.ok;
      } catch (err) {
        say(`conformance scenario ${scenario}: ${(err as Error).message}`);
        return ExitCode.mcpUnavailable;
      }
    },
  );
  return ended.value;
}
