// The daemon: one long-lived root orchestrator with a warm pool, serving `ironclaw exec`,
// `status`, `pool` and `down` on a Unix socket that only its owner can open. No TCP, ever.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { dirname } from "node:path";
import { type CgroupSupport, detectCgroups } from "../../actors/sandbox/cgroup.ts";
import type { SandboxDriver } from "../../actors/sandbox/sandbox-driver.ts";
import { parseBackend } from "../../core/backend.ts";
import { cpusProblem } from "../cpu-limit.ts";
import { selectBackend } from "../backend-select.ts";
import { runJob } from "../exec-job.ts";
import type { Logger } from "../logger.ts";
import { transportLabel } from "../../core/mcp-server.ts";
import { loadMcpConfig } from "../config/mcp-config.ts";
import { createInspectionSource, type InspectionSource } from "../inspector/inspection-source.ts";
import { attachInspector, type AttachedInspector } from "../inspector/inspector-attach.ts";
import { guardProcess } from "../process-guard.ts";
import { createRuntime, type Runtime } from "../runtime.ts";
import type { Settings } from "../config/settings.ts";
import type { VmLimits } from "../../machines/vm.machine.ts";
import { decodeClientMessage, type ClientMessage, type DaemonMessage, type ExecRequest } from "./daemon-protocol.ts";
import { daemonLockPath, daemonRecordPath, daemonSocketPath } from "./daemon-paths.ts";
import { acquireDaemonLock } from "./daemon-lock.ts";
import { readMessages, send } from "./framed-socket.ts";

/** The limits pooled sandboxes are made with (exec's defaults); a request for others boots a sandbox of its own. */
export function poolLimits(settings: Settings): VmLimits {
  return { memoryMiB: 512, pidsMax: 256, cpus: settings.sandbox.cpus };
}

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
  // Costs little until someone watches: views are built only while an inspector is attached.
  const source = createInspectionSource({ pid: process.pid, command: "daemon", cwd: process.cwd() });
  const inspector = daemonInspector(source, logger);
  const runtime = createRuntime({
    logger,
    inspect: source.inspect,
    mcp: {
      servers: mcpConfig.servers,
      // Nobody is at the daemon's terminal: a server asking for input is declined, and the log says so.
      elicit: async (server, params) => {
        logger.warn({ mcp: server, message: params.message }, "elicitation declined: the daemon has no terminal (use `ironclaw mcp call --no-daemon`)");
        return { action: "decline" };
      },
    },
  });
  guardProcess(runtime, logger, { onSignal: "orchestrated", onCrash: (err) => logger.fatal({ err }, "daemon crashed") });
  await runtime.reapLeftovers();
  const driver = await selectBackend(options.backend, runtime.drivers);
  const cgroups = await detectCgroups();
  const startedAt = new Date().toISOString();

  const warm = (backend: string, size: number) => runtime.pool.warm({ backend, size, limits: poolLimits(settings), refreshMs: settings.pool.snapshotRefreshSecs * 1000 });

  // Listen before anything starts: a socket that cannot be had must not leave a warming pool behind.
  rmSync(socketPath, { force: true }); // we hold the lock and nobody answered: a crashed daemon's leftover
  const server = createServer((socket) => serve(socket, { runtime, inspector, driver, warm, cgroups, startedAt, socketPath, settings }));
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
  runtime.orchestrator.start();
  warm(driver.backend, settings.pool.size);
  runtime.mcp.connect();
  chmodSync(socketPath, 0o600);
  const inspectorUrl = options.inspect ? (await inspector.ensure()).url : undefined;
  const record: DaemonRecord = {
    pid: process.pid,
    socket: socketPath,
    startedAt,
    backend: driver.backend,
    projectDir: process.cwd(),
    ...(inspectorUrl && { inspector: inspectorUrl }),
  };
  writeFileSync(daemonRecordPath(), JSON.stringify(record), { mode: 0o600 });
  const { inspector: _url, ...loggable } = record; // the URL holds the token: not for the log
  logger.info({ ...loggable, inspector: inspectorUrl !== undefined }, "daemon listening");

  const output = await runtime.stopped;
  await inspector.close();
  server.close();
  rmSync(socketPath, { force: true });
  rmSync(daemonRecordPath(), { force: true });
  lock.release();
  logger.info({ output }, "daemon stopped");
  return 0;
}

interface ServeContext {
  readonly runtime: Runtime;
  readonly inspector: ReturnType<typeof daemonInspector>;
  readonly driver: SandboxDriver;
  readonly warm: (backend: string, size: number) => void;
  readonly cgroups: CgroupSupport;
  readonly startedAt: string;
  readonly socketPath: string;
  readonly settings: Settings;
}

function serve(socket: Socket, ctx: ServeContext): void {
  let handled = false;
  readMessages(
    socket,
    decodeClientMessage,
    (message) => {
      if (handled) return send(socket, { type: "error", code: "EPROTO", message: "one request per connection" } satisfies DaemonMessage);
      handled = true;
      void handle(socket, message, ctx).catch((err: Error & { code?: unknown }) => {
        send(socket, { type: "error", code: typeof err.code === "string" ? err.code : "EFAILED", message: err.message } satisfies DaemonMessage);
        socket.end();
      });
    },
    (error) => send(socket, { type: "error", code: "EPROTO", message: error } satisfies DaemonMessage),
  );
  socket.on("error", () => {});
}

async function handle(socket: Socket, message: ClientMessage, ctx: ServeContext): Promise<void> {
  const { runtime } = ctx;
  const reply = (m: DaemonMessage) => send(socket, m);
  switch (message.type) {
    case "exec":
      return execute(socket, message, ctx);
    case "status": {
      const snap = runtime.orchestrator.getSnapshot();
      reply({
        type: "status",
        pid: process.pid,
        socket: ctx.socketPath,
        startedAt: ctx.startedAt,
        backend: ctx.driver.backend,
        state: String(snap.value),
        inspector: await ctx.inspector.url(),
        children: snap.context.children.map((c) => ({
          id: c.id,
          src: c.src,
          state: c.ref ? JSON.stringify((c.ref.getSnapshot() as { value: unknown }).value) : "restarting",
        })),
      });
      return void socket.end();
    }
    case "inspect": {
      const attached = await ctx.inspector.ensure();
      reply({ type: "inspector", url: attached.url, mode: attached.mode });
      return void socket.end();
    }
    case "pool.warm": {
      const backend = message.backend ? parseBackend(message.backend) : ctx.driver.backend;
      if (!runtime.drivers[backend]) throw new Error(`the ${backend} backend is not part of this build yet`);
      ctx.warm(backend, message.size ?? ctx.settings.pool.size);
      reply({ type: "ok" });
      return void socket.end();
    }
    case "pool.stats": {
      const slots = runtime.pool.stats();
      reply({ type: "pool.stats", size: slots.length, ready: slots.filter((s) => s.state === "ready").length, slots });
      return void socket.end();
    }
    case "mcp.list": {
      reply({
        type: "mcp.servers",
        projectDir: process.cwd(),
        servers: runtime.mcp.servers.map((s) => {
          const state = runtime.mcp.state(s.name);
          return { name: s.name, transport: transportLabel(s), state: state.state, tools: state.tools.length, attempt: state.attempt, lastError: state.lastError };
        }),
      });
      return void socket.end();
    }
    case "mcp.tools": {
      const server = runtime.mcp.servers.find((s) => s.name === message.server);
      const { tools } = await runtime.mcp.ready(message.server, server?.timeoutMs);
      reply({ type: "mcp.tools", server: message.server, tools: [...tools] });
      return void socket.end();
    }
    case "mcp.call": {
      // The client going away (Ctrl-C) cancels the call: the server gets notifications/cancelled.
      const cancel = new AbortController();
      socket.once("close", () => cancel.abort());
      const server = runtime.mcp.servers.find((s) => s.name === message.server);
      const { tools } = await runtime.mcp.ready(message.server, server?.timeoutMs);
      if (!tools.some((t) => t.name === message.tool)) {
        throw Object.assign(new Error(`MCP server ${message.server} has no tool ${message.tool} (see \`ironclaw mcp tools ${message.server}\`)`), { code: "ENOTOOL" });
      }
      const result = await runtime.mcp.call(message.server, message.tool, message.args, {
        ...(message.timeoutMs !== undefined && { timeoutMs: message.timeoutMs }),
        signal: cancel.signal,
        onProgress: (p) => reply({ type: "mcp.progress", ...p }),
      });
      reply({ type: "mcp.result", result });
      return void socket.end();
    }
    case "shutdown":
      reply({ type: "ok" });
      socket.end();
      runtime.orchestrator.send({ type: "SHUTDOWN", reason: "ironclaw down" });
      return;
  }
}

async function execute(socket: Socket, req: ExecRequest, ctx: ServeContext): Promise<void> {
  const { runtime } = ctx;
  const backend = req.backend ? parseBackend(req.backend) : ctx.driver.backend;
  if (!runtime.drivers[backend]) throw new Error(`the ${backend} backend is not part of this build yet`);
  const { cgroups } = ctx;
  if (!cgroups.usable && req.limitsExplicit) throw new Error(`cannot enforce --memory/--pids here: ${cgroups.detail}`);
  if (!cgroups.cpu.usable && req.cpusExplicit) throw new Error(`cannot enforce --cpus here: ${cgroups.cpu.detail}`);
  const cpus = req.cpus ?? ctx.settings.sandbox.cpus;
  const problem = cpusProblem(cpus);
  if (problem) throw Object.assign(new Error(`--cpus ${problem}, got ${cpus}`), { code: "EUSAGE" });
  const limits: VmLimits = { memoryMiB: req.memoryMiB, pidsMax: req.pidsMax, cpus };
  // The pool hands out only a sandbox made with exactly these limits.
  const sandbox = runtime.pool.lease(backend, limits);
  // The client going away (Ctrl-C, kill) cancels the job: its sandbox is torn down.
  const cancel = new AbortController();
  socket.once("close", () => cancel.abort());
  const outcome = await runJob(
    runtime,
    {
      backend,
      limits,
      ...(sandbox && { sandbox }),
      job: {
        argv: req.argv,
        cwd: req.cwd,
        timeoutMs: req.timeoutMs,
        ...(req.env && { env: req.env }),
        ...(req.stdin !== undefined && { stdin: req.stdin }),
        ...(req.outputCapBytes !== undefined && { outputCapBytes: req.outputCapBytes }),
      },
    },
    {
      onReady: (id, isolation) => send(socket, { type: "ready", sandbox: id, isolation, leased: sandbox !== null, backend } satisfies DaemonMessage),
      onOutput: (stream, data) => {
        // The guest cannot be paused, so a client that stops reading would make the daemon hold
        // the command's whole output. Past a bound, drop the client: its job is cancelled.
        if (socket.writableLength > CLIENT_BUFFER_LIMIT_BYTES) return void socket.destroy();
        send(socket, { type: "output", stream, data: data.toString("base64") } satisfies DaemonMessage);
      },
    },
    cancel.signal,
  );
  send(socket, {
    type: "done",
    backend,
    limits: cgroups.usable ? cgroups.detail : `none: ${cgroups.detail}`,
    outcome,
  } satisfies DaemonMessage);
  socket.end();
}

export function readDaemonRecord(): DaemonRecord | null {
  try {
    return JSON.parse(readFileSync(daemonRecordPath(), "utf8")) as DaemonRecord;
  } catch {
    return null;
  }
}
