// Model-based test of the MCP connection machine: xstate/graph yields a path to every state and
// then along every transition out of it; each path is replayed against a real connection actor
// talking to a real SDK server over stdio (tests/fixtures/mcp/faulty-server.mjs). Faults are
// caused for real where they can be (the server process killed, a tool that does not exist, a
// server that announces new tools) and injected where they cannot (a connect that fails or
// hangs, a listing refused, reconnects that give up, a close that fails or hangs). After every
// path the actor is done and the server's processes are gone.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, type AnyEventObject, type EventObject, type SnapshotFrom } from "xstate";
import { nanoid } from "nanoid";
import { pino } from "pino";
import { listAllTools, mcpConnectionActors } from "../../actors/mcp/mcp-connection.actors.ts";
import { openSession } from "../../actors/mcp/mcp-session.ts";
import { sessionHandle, sessionOf } from "../../actors/mcp/session-handle.ts";
import { mcpConnectionMachine, type McpConnectionEvent, type McpSessionHandle } from "../../machines/mcp-connection.machine.ts";
import type { StdioServerConfig } from "../../core/mcp-server.ts";
import { modelCoverage, recordCoverage } from "../support/model-coverage.ts";
import { createMachineTestModel, stateTrail, transitionPaths } from "../support/test-model.ts";
import { McpConnectError } from "../../core/errors.ts";

type Snap = SnapshotFrom<typeof mcpConnectionMachine>;
type Step = { event: AnyEventObject; state: Snap };

const FAULTY = join(import.meta.dirname, "..", "fixtures", "mcp", "faulty-server.mjs");
const call = (tool: string) => ({ callId: "c1", tool, args: {}, idempotent: false });
const session = { kind: "mcp-session" };

const MODEL_INPUT = { id: "model", server: "faulty" };
const model = createMachineTestModel(mcpConnectionMachine, {
  events: [
    { type: "xstate.done.actor.connect", output: session },
    { type: "xstate.error.actor.connect", error: { code: "ECONNECT", message: "model", fatal: false } },
    { type: "xstate.error.actor.connect", error: { code: "ENOENT", message: "model", fatal: true } },
    { type: "xstate.done.actor.listTools", output: [] },
    { type: "xstate.error.actor.listTools", error: { code: "EFAILED", message: "model", fatal: false } },
    { type: "xstate.error.actor.listTools", error: { code: "EAUTH", message: "model", fatal: true } },
    { type: "xstate.done.actor.refreshTools", output: [] },
    { type: "xstate.error.actor.refreshTools", error: new Error("model") },
    { type: "xstate.done.actor.close" },
    { type: "xstate.error.actor.close", error: new Error("model") },
    { type: "CALL", call: call("add") },
    { type: "CANCEL", callId: "c1" },
    { type: "STOP" },
    { type: "TRANSPORT.CLOSED", reason: "model" },
    { type: "TOOLS.CHANGED" },
    { type: "CALL.PROGRESS", callId: "c1", progress: 1 },
    { type: "CALL.RESULT", callId: "c1", result: {} },
    { type: "CALL.FAILED", callId: "c1", code: "MCP-32603", message: "model" },
    { type: "RECONNECT.ATTEMPT", attempt: 1, error: "model", delayMs: 0 },
    { type: "RECONNECT.DONE", session, tools: [] },
    { type: "RECONNECT.GAVE_UP", attempts: 2, error: "model", permanent: false },
    ...["connectTimeout.mcpConnection.connecting", "connectTimeout.mcpConnection.initializing", "closeTimeout.mcpConnection.closing"].map((t) => ({ type: `xstate.after.${t}` })),
  ] as never,
  serializeState: ((s: Snap) => JSON.stringify([s.value, s.context.failure !== null])) as never,
  input: MODEL_INPUT,
});
const key = (s: Snap) => JSON.stringify([s.value, s.context.failure !== null]);

const fatalOf = (e: AnyEventObject) => (e as { error?: { fatal?: boolean } }).error?.fatal;
const eventName = (e: AnyEventObject) =>
  `${e.type.replace("xstate.", "").replace(/\.mcpConnection\.[a-z]+$/, "")}${fatalOf(e) === undefined ? "" : fatalOf(e) ? " (permanent)" : " (transient)"}`;

/**
 * Steps the test cannot cause: the answers of a call (progress, result, failure) arrive only in
 * ready, where a call is in flight; elsewhere the machine merely ignores late answers.
 */
const offered = (from: Snap, event: AnyEventObject) => !event.type.startsWith("CALL.") || from.matches("ready");
const paths = transitionPaths(model as never, key, eventName, offered as never) as Step[][];

const processesWith = (marker: string) =>
  execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(marker) && !l.includes("ps -eo"))
    .map((l) => Number(l.trim().split(/\s+/)[0]));

const never = (signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));

/** The real actors, with the ones this path needs to fail or hang replaced. */
function actorsFor(steps: Step[], server: StdioServerConfig) {
  const hooks = { logger: pino({ level: "silent" }) };
  const real = mcpConnectionActors(new Map([[server.name, server]]), hooks);
  const types = steps.map((s) => s.event.type);
  const at = (type: string) => steps.find((s) => s.event.type === type)?.event;
  const connectError = at("xstate.error.actor.connect");
  const listError = at("xstate.error.actor.listTools");
  const open = async (signal: AbortSignal) => {
    const s = await openSession(server, hooks, signal);
    return { session: s, tools: await listAllTools(s, signal) };
  };
  return {
    ...real,
    connect: connectError
      ? fromPromise<McpSessionHandle, { server: string }>(async () => {
          const e = (connectError as unknown as { error: { code: string; message: string; fatal: boolean } }).error;
          throw new McpConnectError(e.code, e.message, e.fatal);
        })
      : types.some((t) => t.startsWith("xstate.after.connectTimeout.mcpConnection.connecting"))
        ? fromPromise<McpSessionHandle, { server: string }>(({ signal }) => never(signal))
        : real.connect,
    listTools: listError
      ? fromPromise<never, { session: McpSessionHandle }>(async ({ input }) => {
          await sessionOf(input.session).close();
          const e = (listError as unknown as { error: { code: string; message: string; fatal: boolean } }).error;
          throw new McpConnectError(e.code, e.message, e.fatal);
        })
      : types.some((t) => t.startsWith("xstate.after.connectTimeout.mcpConnection.initializing"))
        ? fromPromise<never, { session: McpSessionHandle }>(async ({ input, signal }) => {
            await sessionOf(input.session).close();
            return never(signal);
          })
        : real.listTools,
    reconnect: fromCallback<EventObject, { session: McpSessionHandle | null }>(({ input, sendBack }) => {
      // What the path asks of the reconnect: report an attempt, give up, or come back for real.
      const abort = new AbortController();
      const send = (e: McpConnectionEvent) => !abort.signal.aborted && sendBack(e);
      void (async () => {
        await (input.session && sessionOf(input.session))?.close().catch(() => {});
        const i = steps.findIndex((s, n) => n > 0 && s.event.type.startsWith("RECONNECT.") && steps[n - 1]!.state.matches("reconnecting"));
        const next = steps[i]?.event.type;
        if (next === "RECONNECT.ATTEMPT") send({ type: "RECONNECT.ATTEMPT", attempt: 1, error: "model", delayMs: 0 });
        if (next === "RECONNECT.GAVE_UP") return send({ type: "RECONNECT.GAVE_UP", attempts: 2, error: "model: unreachable", permanent: false });
        if (next === "RECONNECT.ATTEMPT" && steps[i + 1]?.event.type === "RECONNECT.GAVE_UP") {
          return send({ type: "RECONNECT.GAVE_UP", attempts: 2, error: "model: unreachable", permanent: false });
        }
        const { session: s, tools } = await open(abort.signal);
        if (abort.signal.aborted) return void s.close();
        send({ type: "RECONNECT.DONE", session: sessionHandle(s), tools });
      })().catch(() => {});
      return () => abort.abort();
    }),
    close: steps.some((s, n) => s.event.type === "CALL" && steps[n - 1]?.state.matches("closing"))
      ? // A call that arrives while closing: the close must take a moment for it to arrive in time.
        fromPromise<void, { session: McpSessionHandle | null }>(async ({ input }) => {
          await new Promise((r) => setTimeout(r, 300));
          await (input.session && sessionOf(input.session))?.close();
        })
      : types.includes("xstate.error.actor.close")
        ? fromPromise<void, { session: McpSessionHandle | null }>(async ({ input }) => {
            await (input.session && sessionOf(input.session))?.close();
            throw new Error("model: close failed");
          })
        : types.some((t) => t.startsWith("xstate.after.closeTimeout"))
          ? fromPromise<void, { session: McpSessionHandle | null }>(async ({ input, signal }) => {
              await (input.session && sessionOf(input.session))?.close();
              return never(signal);
            })
          : real.close,
  };
}

describe("mcp-connection machine, model-based, against a real stdio server", () => {
  // A state added to the machine that no path reaches fails here, by its id.
  it("reaches every state of the machine", () => {
    const report = modelCoverage(mcpConnectionMachine, paths, { input: MODEL_INPUT });
    recordCoverage("mcp-connection", report);
    expect(report.states.missing, "states of the connection that no path reaches").toEqual([]);
  });

  it.each(paths.map((p) => [p.map((s) => eventName(s.event)).join(" → "), p] as const))(
    "%s",
    async (_, steps) => {
      const marker = `--ironclaw-model-${nanoid(8).replace(/[^A-Za-z0-9]/g, "0")}`;
      const server: StdioServerConfig = {
        name: "faulty",
        source: "test",
        transport: "stdio",
        command: process.execPath,
        args: [FAULTY, "normal", marker],
        env: {},
        cwd: import.meta.dirname,
        sandbox: false,
        timeoutMs: 10_000,
        idempotentTools: [],
        trusted: false,
      };
      const timed = steps.some((s) => s.event.type.startsWith("xstate.after."));
      const machine = mcpConnectionMachine.provide({ actors: actorsFor(steps, server) as never });
      const actor = createActor(machine, { input: { id: "faulty", server: "faulty", timeouts: timed ? { connectMs: 1500, closeMs: 500 } : {} } });
      const { reach } = stateTrail(actor, key);
      const settled: string[] = [];
      actor.on("call.result", () => settled.push("result"));
      actor.on("call.failed", (e) => settled.push(`failed ${e.code}`));
      const done = new Promise<void>((resolve) => actor.subscribe({ complete: () => resolve() }));
      actor.start();

      for (const [i, step] of steps.entries()) {
        const next = steps[i + 1]?.event.type;
        switch (step.event.type) {
          case "STOP":
            actor.send({ type: "STOP" });
            break;
          case "CALL":
            // The tool that makes the path's next step happen for real.
            actor.send({
              type: "CALL",
              call: call(next === "CALL.FAILED" ? "no-such-tool" : next === "CALL.PROGRESS" ? "progress" : next === "CANCEL" || next === "TRANSPORT.CLOSED" ? "sleep" : "add"),
            });
            break;
          case "CANCEL":
            actor.send({ type: "CANCEL", callId: "c1" });
            break;
          case "TRANSPORT.CLOSED":
            for (const pid of processesWith(marker)) process.kill(pid, "SIGKILL");
            break;
          case "TOOLS.CHANGED":
            // The server announces new tools; the call goes around the machine, straight to the SDK.
            await sessionOf(actor.getSnapshot().context.session!).client.callTool({ name: "change-tools", arguments: {} });
            break;
          default:
            break; // actor results and timers: the SUT produces them itself
        }
        await reach(key(step.state));
      }

      if (actor.getSnapshot().status !== "done") actor.send({ type: "STOP" });
      await done;
      const last = steps.at(-1)!.state;
      expect(actor.getSnapshot().output!.outcome).toBe(last.matches("failed") ? "failed" : "normal");
      // A call was answered, or told why not — never left hanging.
      if (steps.some((s) => s.event.type === "CALL")) expect(settled.length).toBeGreaterThan(0);
      // Nothing of the server is left, whatever the path.
      const gone = async () => {
        for (let n = 0; n < 100 && processesWith(marker).length; n++) await new Promise((r) => setTimeout(r, 50));
        return processesWith(marker);
      };
      expect(await gone()).toEqual([]);
    },
    30_000,
  );
});
