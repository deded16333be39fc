// `ironclaw up | down | status`: the daemon's life from the command line.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DaemonClient } from "../daemon/daemon-client.ts";
import { daemonAnswers, readDaemonRecord, runDaemon } from "../daemon/daemon.ts";
import { daemonLockPath, daemonLogPath, daemonSocketPath } from "../daemon/daemon-paths.ts";
import { lockHolder } from "../daemon/daemon-lock.ts";
import { processStartTime } from "../../actors/sandbox/host-process.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import { createLogger } from "../logger.ts";
import { packageRoot } from "../../core/paths.ts";
import { loadSettings } from "../config/settings.ts";
import { loadMcpConfig } from "../config/mcp-config.ts";
import { safeJson } from "../../core/terminal-text.ts";
import { say } from "./cli-io.ts";
import { projectTrustGate } from "./project-trust-gate.ts";
import { SettingsError, UsageError } from "../../core/errors.ts";

const print = (json: boolean, value: unknown, text: string) => process.stdout.write(json ? `${safeJson(value)}\n` : `${text}\n`);

function settingsOrUsage() {
  try {
    loadMcpConfig(); // the daemon connects the project's MCP servers: a bad entry is refused now
    return loadSettings();
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
}

async function until(ok: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return ok();
}

export async function runUp(opts: { backend?: string; foreground: boolean; inspect?: boolean; json: boolean; verbose: boolean; withoutProjectServers?: boolean }): Promise<number> {
  // The daemon connects the project's MCP servers: asked about here, at the terminal `up` runs in.
  const trust = await projectTrustGate({ declined: opts.withoutProjectServers === true });
  const settings = settingsOrUsage();
  if (opts.foreground) {
    const logger = await createLogger({ verbose: opts.verbose });
    return runDaemon({ ...(opts.backend && { backend: opts.backend }), logger, settings, inspect: Boolean(opts.inspect) });
  }
  if (await daemonAnswers()) {
    const record = readDaemonRecord();
    const inspector = opts.inspect ? await (await DaemonClient.connect())?.inspect().catch(() => null) : null;
    const url = inspector?.url;
    print(
      opts.json,
      { running: true, started: false, ...record, ...(url && { inspector: url }) },
      `daemon already running (pid ${record?.pid}, socket ${daemonSocketPath()})${url ? `\ninspector: ${url}` : ""}`,
    );
    return ExitCode.ok;
  }
  mkdirSync(dirname(daemonLogPath()), { recursive: true, mode: 0o700 });
  const log = openSync(daemonLogPath(), "a");
  const args = [
    join(packageRoot(), "dist", "ironclaw.mjs"),
    "up",
    "--foreground",
    ...(opts.backend ? ["--backend", opts.backend] : []),
    ...(opts.inspect ? ["--inspect"] : []),
    ...(trust === "declined" ? ["--without-project-servers"] : []),
  ];
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", log, log], env: process.env });
  closeSync(log);
  let exited: number | null = null;
  child.once("exit", (code) => (exited = code ?? 1));
  child.unref();
  // Up means answering with a record of a live process (a crashed daemon's record may linger).
  const serving = async () => {
    const record = readDaemonRecord();
    return record !== null && processStartTime(record.pid) !== null && (await daemonAnswers());
  };
  const up = await until(async () => exited !== null || (await serving()), 60_000);
  // Two `ironclaw up` at once: the daemon that took the lock is the one; the other child quits.
  const waitForWinner = exited !== null && lockHolder(daemonLockPath()) !== null;
  if (!(up && exited === null) && !(waitForWinner && (await until(serving, 60_000)))) {
    const tail = readFileSync(daemonLogPath(), "utf8").trim().split("\n").slice(-1)[0] ?? "";
    say(`the daemon did not start${tail ? `: ${tail.replace(/^ironclaw: /, "")}` : ""} (log: ${daemonLogPath()})`);
    return ExitCode.sandboxFailure;
  }
  const record = readDaemonRecord()!;
  if (record.pid !== child.pid) {
    print(opts.json, { running: true, started: false, ...record }, `daemon already running (pid ${record.pid}, socket ${daemonSocketPath()})`);
    return ExitCode.ok;
  }
  print(
    opts.json,
    { running: true, started: true, ...record, poolSize: settings.pool.size },
    `daemon up: pid ${record.pid}, backend ${record.backend}, pool of ${settings.pool.size} warming, socket ${daemonSocketPath()}${record.inspector ? `\ninspector: ${record.inspector}` : ""}`,
  );
  return ExitCode.ok;
}

export async function runDown(opts: { json: boolean }): Promise<number> {
  const record = readDaemonRecord();
  const daemon = await DaemonClient.connect();
  if (!daemon) {
    print(opts.json, { running: false, stopped: false }, "no daemon running");
    return ExitCode.ok;
  }
  await daemon.shutdown();
  // The daemon destroys every sandbox before it lets go of its socket.
  const gone = await until(async () => !(await daemonAnswers()), 60_000);
  if (!gone) {
    say(`the daemon (pid ${record?.pid}) did not stop within 60 s; its sandboxes die with it if you kill it`);
    return ExitCode.sandboxFailure;
  }
  print(opts.json, { running: false, stopped: true, pid: record?.pid ?? null }, `daemon stopped; every sandbox destroyed`);
  return ExitCode.ok;
}

export async function runStatus(opts: { json: boolean }): Promise<number> {
  const daemon = await DaemonClient.connect();
  const status = await daemon?.status().catch(() => null);
  if (!daemon || !status) {
    print(opts.json, { running: false }, "no daemon running (start one with `ironclaw up`)");
    return ExitCode.notRunning;
  }
  const stats = await daemon.pool.stats().catch(() => null);
  if (opts.json) {
    // `type` as the daemon's replies have always carried it.
    print(true, { running: true, type: "status", ...status, pool: stats && { type: "pool.stats", ...stats } }, "");
    return ExitCode.ok;
  }
  const lines = [
    `daemon: pid ${status.pid}, up since ${status.startedAt}, backend ${status.backend}, socket ${status.socket}`,
    `orchestrator: ${status.state}`,
    ...(status.inspector ? [`inspector: ${status.inspector}`] : []),
    ...status.children.map((c) => `  ${c.src.padEnd(5)} ${c.id.padEnd(24)} ${c.state}`),
  ];
  if (stats) lines.push(`pool: ${stats.ready}/${stats.size} ready`);
  print(false, null, lines.join("\n"));
  return ExitCode.ok;
}
