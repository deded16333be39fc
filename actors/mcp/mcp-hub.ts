// MCP servers as the rest of IronClaw sees them: one mcp-connection actor per configured
// server, a child of the orchestrator (transient; given up on alone, never taking the tree
// down), found by the server's name whatever incarnation is current. Calls go to the actor as
// CALL events and come back as its emitted events, so a call made while the connection is
// reconnecting waits for it, and one in flight when it drops fails with the machine's reason.
import { nanoid } from "nanoid";
import type { Actor, ActorRefFrom, Subscription } from "xstate";
import type { McpConnectionEmitted, McpConnectionInput, McpTool, mcpConnectionMachine } from "../../machines/mcp-connection.machine.ts";
import type { orchestratorMachine } from "../../machines/orchestrator.machine.ts";
import type { McpServerConfig } from "../../core/mcp-server.ts";
import { McpHubError } from "../../core/errors.ts";
import { topState } from "../../core/state-value.ts";

type ConnectionRef = ActorRefFrom<typeof mcpConnectionMachine>;

export interface McpServerState {
  readonly name: string;
  /** The connection's state ("ready", "reconnecting" …), or "stopped" once it has ended. */
  readonly state: string;
  readonly tools: readonly McpTool[];
  readonly attempt: number;
  readonly lastError: string | null;
}

export interface CallOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
}

export interface McpHub {
  readonly servers: readonly McpServerConfig[];
  /** Starts a connection actor for each named server (all when none named) not already running. */
  connect(names?: readonly string[], tuning?: Pick<McpConnectionInput, "reconnect" | "timeouts">): void;
  /** Resolves once the server's connection is ready; rejects with the reason it failed. */
  ready(name: string, timeoutMs?: number): Promise<McpServerState>;
  state(name: string): McpServerState;
  call(name: string, tool: string, args: Readonly<Record<string, unknown>>, options?: CallOptions): Promise<unknown>;
}

/**
 * Where a hub finds its connection actors: the orchestrator's children (the runtime's and the
 * daemon's, restarted by it), or one session's own children.
 */
export interface McpConnections {
  /** The current incarnation of the server's connection actor, if any. */
  lookup(name: string): ConnectionRef | null;
  /** Starts a connection actor for the server (a no-op where the owner starts them itself). */
  start(name: string, tuning: Pick<McpConnectionInput, "reconnect" | "timeouts">): void;
  /** Told when the owner has given up on the server for good (no restart will follow). */
  onGiveUp?(name: string, listener: (reason: string) => void): Subscription;
}

/** The orchestrator's MCP children: transient, given up on alone, never taking the tree down. */
export function orchestratorConnections(orchestrator: Actor<typeof orchestratorMachine>): McpConnections {
  return {
    lookup: (name) => (orchestrator.getSnapshot().context.children.find((c) => c.src === "mcp" && c.id === name)?.ref as ConnectionRef | null | undefined) ?? null,
    start(name, tuning) {
      if (orchestrator.getSnapshot().context.children.some((c) => c.id === name)) return;
      orchestrator.send({ type: "SPAWN", child: { id: name, src: "mcp", restart: "transient", onGiveUp: "remove", input: { id: name, server: name, ...tuning } } });
    },
    onGiveUp: (name, listener) =>
      orchestrator.on("child.exited", (e) => {
        if (e.id === name && !e.restarting) listener(e.error ?? `MCP server ${name} stopped`);
      }),
  };
}

export function createMcpHub(connections: McpConnections, servers: readonly McpServerConfig[]): McpHub {
  const config = (name: string): McpServerConfig => {
    const server = servers.find((s) => s.name === name);
    if (!server) throw new McpHubError("ENOCONFIG", `no MCP server named ${name} (configured: ${servers.map((s) => s.name).join(", ") || "none"})`);
    return server;
  };
  const current = (name: string): ConnectionRef | null => connections.lookup(name);
  const describe = (name: string, ref: ConnectionRef | null): McpServerState => {
    const snap = ref?.getSnapshot();
    if (!snap || snap.status !== "active") {
      return { name, state: snap?.value === "failed" ? "failed" : "stopped", tools: [], attempt: 0, lastError: snap?.context.failure?.message ?? null };
    }
    return { name, state: topState(snap.value), tools: snap.context.tools, attempt: snap.context.attempt, lastError: snap.context.lastError };
  };

  return {
    servers,
    connect(names, tuning = {}) {
      for (const name of names ?? servers.map((s) => s.name)) {
        config(name);
        connections.start(name, tuning);
      }
    },

    ready(name, timeoutMs = 60_000) {
      config(name);
      return new Promise((resolve, reject) => {
        let sub: Subscription | undefined;
        const done = (f: () => void) => {
          clearTimeout(timer);
          sub?.unsubscribe();
          exited?.unsubscribe();
          f();
        };
        const timer = setTimeout(() => done(() => reject(new McpHubError("ETIMEDOUT", `MCP server ${name} was not ready within ${timeoutMs} ms${lastError(name)}`))), timeoutMs);
        const lastError = (n: string) => {
          const e = describe(n, current(n)).lastError;
          return e ? ` (${e})` : "";
        };
        const watch = (ref: ConnectionRef | null) => {
          sub?.unsubscribe();
          if (!ref) return done(() => reject(new McpHubError("ENOTCONNECTED", `MCP server ${name} is not connected`)));
          sub = ref.subscribe((snap) => {
            if (snap.status === "active" && snap.matches("ready")) done(() => resolve(describe(name, ref)));
            if (snap.status === "done" && snap.output.outcome === "failed") {
              const failure = snap.output.failure;
              done(() => reject(new McpHubError(failure.code, failure.message)));
            }
          });
          const snap = ref.getSnapshot();
          if (snap.status === "active" && snap.matches("ready")) done(() => resolve(describe(name, ref)));
        };
        const exited = connections.onGiveUp?.(name, (reason) => done(() => reject(new McpHubError("EUNREACHABLE", reason))));
        watch(current(name));
      });
    },

    state(name) {
      config(name);
      return describe(name, current(name));
    },

    call(name, tool, args, options = {}) {
      const server = config(name);
      const ref = current(name);
      if (!ref || ref.getSnapshot().status !== "active") {
        return Promise.reject(new McpHubError("ENOTCONNECTED", `MCP server ${name} is not connected${describe(name, ref).lastError ? ` (${describe(name, ref).lastError})` : ""}`));
      }
      const callId = nanoid(10);
      return new Promise((resolve, reject) => {
        const subs: Subscription[] = [];
        const finish = (f: () => void) => {
          subs.forEach((s) => s.unsubscribe());
          options.signal?.removeEventListener("abort", cancel);
          f();
        };
        const mine =
          <T extends { callId: string }>(f: (e: T) => void) =>
          (e: T) =>
            e.callId === callId && f(e);
        subs.push(
          ref.on(
            "call.result",
            mine((e: Extract<McpConnectionEmitted, { type: "call.result" }>) => finish(() => resolve(e.result))),
          ),
        );
        subs.push(
          ref.on(
            "call.failed",
            mine((e: Extract<McpConnectionEmitted, { type: "call.failed" }>) => finish(() => reject(new McpHubError(e.code, e.message)))),
          ),
        );
        subs.push(
          ref.on(
            "call.progress",
            mine((e: Extract<McpConnectionEmitted, { type: "call.progress" }>) => options.onProgress?.(e)),
          ),
        );
        const cancel = () => ref.send({ type: "CANCEL", callId });
        options.signal?.addEventListener("abort", cancel, { once: true });
        ref.send({
          type: "CALL",
          call: {
            callId,
            tool,
            args,
            idempotent: server.idempotentTools.includes(tool),
            ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
          },
        });
      });
    },
  };
}
