// The daemon: one long-lived root orchestrator with a warm pool, serving IronclawService on a
// Unix socket that only its owner can open (no TCP, ever). It is an adapter and nothing more:
// each request is decoded, handed to a LocalService (src/service/local-service.ts), which makes
// every check, and its answers are sent back.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { dirname } from "node:path";
import { selectBackend } from "../backend-select.ts";
import type { Logger } from "../logger.ts";
import { loadMcpConfig } from "../config/mcp-config.ts";
import type { InspectionSource } from "../inspector/inspection-source.ts";
import { attachInspector, type AttachedInspector } from "../inspector/inspector-attach.ts";
import type { Settings } from "../config/settings.ts";
import { LocalService } from "../service/local-service.ts";
import { withRuntime } from "../service/with-runtime.ts";
import { decodeClientMessage, type ClientMessage, type DaemonMessage } from "./daemon-protocol.ts";
import { daemonLockPath, daemonRecordPath, daemonSocketPath } from "./daemon-paths.ts";
import { acquireDaemonLock } from "./daemon-lock.ts";
import { readMessages, send } from "./framed-socket.ts";

/** How much output the daemon holds for one client that is not reading it. */
const CLIENT_BUFFER_LIMIT_BYTES = 32 * 1024 * 1024;

export interface DaemonRecord {
  readonly pid: number;
  readonly socket: string;
  readonly startedAt: string;
  readonly backend: string;
  /** Where `ironclaw up` ran: the daemon's MCP servers are that project's. */
  readonly projectDir: string;
  /** With `up --inspect`: the inspector's URL (token included; the record is owner-only). */
  readonly inspector?: string;
}

/** True when a daemon answers on the socket (a stale socket file from a crash does not). */
export function daemonAnswers(path = daemonSocketPath()): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * The daemon's inspector: attached on `up --inspect` or when asked (`ironclaw inspect`, `exec
 * --inspect`); attached again if the inspector it reported to goes away and it is asked anew.
 */
function daemonInspector(source: InspectionSource, logger: Logger) {
  let current: Promise<AttachedInspector> | null = null;
  return {
    ensure(): Promise<AttachedInspector> {
      if (!current) {
        const attaching = attachInspector(source, { publish: true });
        current = attaching;
        attaching.then(
          (inspector) => {
            logger.info({ url: inspector.url.replace(/token=.*/, "token=…"), mode: inspector.mode }, "inspector attached");
            void inspector.lost.then(() => {
              if (current === attaching) current = null;
            });
          },
          () => {
            if (current === attaching) current = null;
          },
        );
      }
      return current;
    },
    url: async () => (current ? ((await current.catch(() => null))?.url ?? null) : null),
    close: async () => (await current?.catch(() => null))?.close(),
  };
}

export async function runDaemon(options: { backend?: string; logger: Logger; settings: Settings; inspect?: boolean }): Promise<number> {
  const { logger, settings } = options;
  const socketPath = daemonSocketPath();
  if (await daemonAnswers(socketPath)) throw new Error(`a daemon is already running (socket ${socketPath}); stop it with \`ironclaw down\``);
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
  // Held until this process ends: only its holder may replace the socket file below.
  const lock = acquireDaemonLock(daemonLockPath());
  process.once("exit", () => lock.release());
  // The MCP servers of the project the daemon was started in; a client elsewhere connects its own.
  const mcpConfig = loadMcpConfig();
  if (mcpConfig.project?.servers.length && !mcpConfig.project.trusted)
    logger.warn({ file: mcpConfig.project.file }, "the project's MCP servers are not trusted: not started (ironclaw trust)");
  const runtimeOptions = {
    mcp: {
      servers: mcpConfig.servers,
      // Nobody is at the daemon's terminal: a server asking for input is declined, and the log says so.
      elicit: async (server: string, params: { message: string }) => {
        logger.warn({ mcp: server, message: params.message }, "elicitation declined: the daemon has no terminal (use `ironclaw mcp call --no-daemon`)");
        return { action: "decline" as const };
      },
    },
  };
  // The inspection source costs little until someone watches: views are built only while an inspector is attached.
  await withRuntime(
    {
      verbose: false,
      logger,
      command: "daemon",
      reason: "daemon stopped",
      inspect: true,
      runtime: runtimeOptions,
      onSignal: "orchestrated",
      onCrash: (err) => logger.fatal({ err }, "daemon crashed"),
    },
    async ({ runtime, source }) => {
      const inspector = daemonInspector(source!, logger);
      const driver = await selectBackend(options.backend, runtime.drivers);
      const service = new LocalService(runtime, { logger, defaultBackend: driver.backend, defaultPassedOver: driver.passedOver, settings, inspector });
      const stop = () => runtime.orchestrator.send({ type: "SHUTDOWN", reason: "ironclaw down" });

      // Listen before anything is warmed: a socket that cannot be had must not leave a warming pool behind.
      rmSync(socketPath, { force: true }); // we hold the lock and nobody answered: a crashed daemon's leftover
      const server = createServer((socket) => serve(socket, service, socketPath, stop));
      // Owner-only from the first moment: the socket is created under a restrictive umask.
      const umask = process.umask(0o177);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", (err) => reject(new Error(`cannot listen on ${socketPath}: ${err.message}`)));
          server.listen(socketPath, resolve);
        });
      } finally {
        process.umask(umask);
      }
      await service.pool.warm({});
      runtime.mcp.connect();
      chmodSync(socketPath, 0o600);
      const inspectorUrl = options.inspect ? (await inspector.ensure()).url : undefined;
      const record: DaemonRecord = {
        pid: process.pid,
        socket: socketPath,
        startedAt: (await service.status()).startedAt,
        backend: driver.backend,
        projectDir: process.cwd(),
        ...(inspectorUrl && { inspector: inspectorUrl }),
      };
      writeFileSync(daemonRecordPath(), JSON.stringify(record), { mode: 0o600 });
      const { inspector: _url, ...loggable } = record; // the URL holds the token: not for the log
      logger.info({ ...loggable, inspector: inspectorUrl !== undefined }, "daemon listening");

      // Until `ironclaw down` or a signal: the orchestrator stops once every sandbox is gone.
      await runtime.stopped;
      await inspector.close();
      server.close();
      rmSync(socketPath, { force: true });
      rmSync(daemonRecordPath(), { force: true });
    },
  );
  lock.release();
  logger.info("daemon stopped");
  return 0;
}

/** One request per connection, handed to the service; its answers (and its errors, by code) go back. */
function serve(socket: Socket, service: LocalService, socketPath: string, stop: () => void): void {
  let handled = false;
  readMessages(
    socket,
    decodeClientMessage,
    (message) => {
      if (handled) return send(socket, { type: "error", code: "EPROTO", message: "one request per connection" } satisfies DaemonMessage);
      handled = true;
      void handle(socket, message, service, socketPath, stop).then(
        () => socket.end(),
        (err: Error & { code?: unknown }) => {
          send(socket, { type: "error", code: typeof err.code === "string" ? err.code : "EFAILED", message: err.message } satisfies DaemonMessage);
          socket.end();
        },
      );
    },
    (error) => send(socket, { type: "error", code: "EPROTO", message: error } satisfies DaemonMessage),
  );
  socket.on("error", () => {});
}

async function handle(socket: Socket, message: ClientMessage, service: LocalService, socketPath: string, stop: () => void): Promise<void> {
  const reply = (m: DaemonMessage) => send(socket, m);
  // The client going away (Ctrl-C, kill) cancels what it asked for: an exec's sandbox is torn
  // down, an MCP call's server gets notifications/cancelled.
  const cancel = new AbortController();
  socket.once("close", () => cancel.abort());
  switch (message.type) {
    case "exec": {
      const { type: _type, ...spec } = message;
      const report = await service.exec(
        spec,
        {
          ready: (ready) => reply({ type: "ready", ...ready }),
          output: (stream, data) => {
            // The guest cannot be paused, so a client that stops reading would make the daemon hold
            // the command's whole output. Past a bound, drop the client: its job is cancelled.
            if (socket.writableLength > CLIENT_BUFFER_LIMIT_BYTES) return void socket.destroy();
            reply({ type: "output", stream, data });
          },
        },
        cancel.signal,
      );
      return reply({ type: "done", ...report });
    }
    case "status":
      return reply({ type: "status", ...(await service.status()), socket: socketPath });
    case "inspect":
      return reply({ type: "inspector", ...(await service.inspect()) });
    case "pool.warm":
      await service.pool.warm(message);
      return reply({ type: "ok" });
    case "pool.stats":
      return reply({ type: "pool.stats", ...(await service.pool.stats()) });
    case "mcp.list":
      return reply({ type: "mcp.servers", ...(await service.mcp.list()) });
    case "mcp.tools":
      return reply({ type: "mcp.tools", server: message.server, tools: [...(await service.mcp.tools(message.server))] });
    case "mcp.call": {
      const result = await service.mcp.call(message.server, message.tool, message.args, {
        ...(message.timeoutMs !== undefined && { timeoutMs: message.timeoutMs }),
        signal: cancel.signal,
        onProgress: (p) => reply({ type: "mcp.progress", ...p }),
      });
      return reply({ type: "mcp.result", result });
    }
    case "shutdown":
      reply({ type: "ok" });
      socket.end();
      return stop();
  }
}

export function readDaemonRecord(): DaemonRecord | null {
  try {
    return JSON.parse(readFileSync(daemonRecordPath(), "utf8")) as DaemonRecord;
  } catch {
    return null;
  }
}
