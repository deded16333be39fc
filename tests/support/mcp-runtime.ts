// A runtime with MCP servers for one test, shut down (every connection and server process with
// it) after the test, whatever the test did; and a bounded wait for a condition.
import { afterEach } from "vitest";
import { pino } from "pino";
import type { McpServerConfig } from "../../core/mcp-server.ts";
import { createRuntime, type Runtime } from "../../src/runtime.ts";

const runtimes: Runtime[] = [];
afterEach(async () => {
  for (const runtime of runtimes.splice(0)) {
    if (runtime.orchestrator.getSnapshot().status === "active") runtime.orchestrator.send({ type: "SHUTDOWN", reason: "test over" });
    await runtime.stopped;
  }
});

export function startMcpRuntime(servers: McpServerConfig[]): Runtime {
  const runtime = createRuntime({ logger: pino({ level: "silent" }), mcp: { servers } });
  runtime.orchestrator.start();
  runtimes.push(runtime);
  return runtime;
}

export async function until(check: () => boolean, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  return check();
}
