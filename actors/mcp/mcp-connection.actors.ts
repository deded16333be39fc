// The effects behind machines/mcp-connection.machine.ts, over the SDK (actors/mcp/mcp-session.ts).
// Reconnects run on an Effect Schedule — exponential, capped, jittered, a bounded number of
// attempts — and report each failed attempt to the machine, so the statechart (and whoever
// watches it) sees the connection trying. Stopping an actor aborts what it does: a connect in
// progress closes what it opened, a tool call is cancelled (notifications/cancelled).
import { Duration, Effect, Schedule } from "effect";
import { fromCallback, fromPromise, type EventObject } from "xstate";
import { CallToolResultSchema, ErrorCode, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpCall, McpConnectionEvent, McpSessionHandle, McpTool, ReconnectPolicy } from "../../machines/mcp-connection.machine.ts";
import type { McpServerConfig } from "../../core/mcp-server.ts";
import { openSession, type McpSession, type SessionHooks } from "./mcp-session.ts";
import { sessionHandle, sessionOf } from "./session-handle.ts";
import { McpConnectError } from "../../core/errors.ts";

/** Jittered exponential delays between `baseMs` and `maxMs`, at most `maxAttempts - 1` retries. */
export function reconnectSchedule(policy: ReconnectPolicy) {
  return Schedule.exponential(Duration.millis(policy.baseMs)).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.millis(policy.maxMs)))),
    Schedule.jittered,
  );
}

/** tools/list, every page. Refused credentials cannot be retried into working: permanent. */
export async function listAllTools(session: McpSession, signal: AbortSignal): Promise<McpTool[]> {
  const { client, server, withAuth } = session;
  if (!client.getServerCapabilities()?.tools) return [];
  const tools: Tool[] = [];
  let cursor: string | undefined;
  try {
    do {
      const params = cursor ? { cursor } : {};
      const page = await withAuth(() => client.listTools(params, { signal, timeout: server.timeoutMs }));
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
  } catch (err) {
    if (err instanceof UnauthorizedError || (err instanceof StreamableHTTPError && (err.code === 401 || err.code === 403))) {
      throw new McpConnectError("EAUTH", `MCP server ${server.name} refused to list its tools: ${(err as Error).message}`, true);
    }
    throw err;
  }
  return tools;
}

export function mcpConnectionActors(servers: ReadonlyMap<string, McpServerConfig>, hooks: SessionHooks) {
  const configOf = (name: string): McpServerConfig => {
    const server = servers.get(name);
    if (!server) throw new McpConnectError("ENOCONFIG", `no MCP server named ${name} in the config`, true);
    return server;
  };

  return {
    connect: fromPromise<McpSessionHandle, { server: string }>(async ({ input, signal }) => sessionHandle(await openSession(configOf(input.server), hooks, signal))),

    listTools: fromPromise<McpTool[], { session: McpSessionHandle }>(({ input, signal }) => listAllTools(sessionOf(input.session), signal)),

    reconnect: fromCallback<EventObject, { server: string; session: McpSessionHandle | null; policy: ReconnectPolicy; attempt: number; connectMs: number }>(
      ({ input, sendBack }) => {
        const abort = new AbortController();
        const send = (event: McpConnectionEvent) => !abort.signal.aborted && sendBack(event);
        let attempt = input.attempt;
        let lastError = "";
        let permanent = false;
        const once = Effect.tryPromise({
          try: async (signal) => {
            // Each attempt is bounded like the first connect (the machine's connectMs).
            const session = await openSession(configOf(input.server), hooks, signal, input.connectMs);
            try {
              return { session, tools: await listAllTools(session, signal) };
            } catch (err) {
              await session.close().catch(() => {});
              throw err;
            }
          },
          catch: (err) => err as McpConnectError,
        }).pipe(
          Effect.tapError((err) =>
            Effect.sync(() => {
              attempt++;
              lastError = err.message;
              permanent = err instanceof McpConnectError && err.fatal;
              send({ type: "RECONNECT.ATTEMPT", attempt, error: err.message, delayMs: 0 });
            }),
          ),
        );
        const program = Effect.gen(function* () {
          // The session that dropped may still hold a process or a socket.
          if (input.session)
            yield* Effect.promise(() =>
              sessionOf(input.session!)
                .close()
                .catch(() => {}),
            );
          return yield* Effect.retry(once, {
            schedule: reconnectSchedule(input.policy),
            times: Math.max(0, input.policy.maxAttempts - 1),
            while: (err) => !(err instanceof McpConnectError && err.fatal),
          });
        });
        Effect.runPromise(program, { signal: abort.signal }).then(
          ({ session, tools }) => {
            if (abort.signal.aborted) void session.close().catch(() => {});
            else send({ type: "RECONNECT.DONE", session: sessionHandle(session), tools });
          },
          () => send({ type: "RECONNECT.GAVE_UP", attempts: attempt, error: lastError || "unknown error", permanent }),
        );
        return () => abort.abort();
      },
    ),

    watch: fromCallback<EventObject, { session: McpSessionHandle; server: string }>(({ input, sendBack }) => {
      const session = sessionOf(input.session);
      let live = true;
      void session.closed.then((reason) => live && sendBack({ type: "TRANSPORT.CLOSED", reason } satisfies McpConnectionEvent));
      const off = session.onToolsChanged(() => live && sendBack({ type: "TOOLS.CHANGED" } satisfies McpConnectionEvent));
      return () => {
        live = false;
        off();
      };
    }),

    callTool: fromCallback<EventObject, { session: McpSessionHandle; call: McpCall }>(({ input, sendBack }) => {
      const { client, server, withAuth } = sessionOf(input.session);
      const { call } = input;
      const abort = new AbortController();
      const send = (event: McpConnectionEvent) => !abort.signal.aborted && sendBack(event);
      withAuth(() =>
        client.callTool({ name: call.tool, arguments: { ...call.args } }, CallToolResultSchema, {
          signal: abort.signal,
          timeout: call.timeoutMs ?? server.timeoutMs,
          resetTimeoutOnProgress: true,
          onprogress: (p) =>
            send({
              type: "CALL.PROGRESS",
              callId: call.callId,
              progress: p.progress,
              ...(p.total !== undefined && { total: p.total }),
              ...(p.message !== undefined && { message: p.message }),
            }),
        }),
      ).then(
        (result) => send({ type: "CALL.RESULT", callId: call.callId, result }),
        (err: Error & { code?: unknown }) => {
          const timedOut = err instanceof McpError && err.code === ErrorCode.RequestTimeout;
          send({
            type: "CALL.FAILED",
            callId: call.callId,
            code: timedOut ? "ETIMEDOUT" : typeof err.code === "number" ? `MCP${err.code}` : "EFAILED",
            message: timedOut
              ? `${call.tool} on MCP server ${server.name} did not answer within ${call.timeoutMs ?? server.timeoutMs} ms`
              : `${call.tool} on MCP server ${server.name} failed: ${err.message}`,
          });
        },
      );
      // Stopping this actor (CANCEL, STOP, a dropped transport) cancels the request: the SDK
      // sends notifications/cancelled for an aborted request.
      return () => abort.abort("cancelled by IronClaw");
    }),

    close: fromPromise<void, { session: McpSessionHandle | null }>(async ({ input }) => {
      if (input.session) await sessionOf(input.session).close();
    }),
  };
}
