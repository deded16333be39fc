// `ironclaw inspect`: the live statechart inspector as a process of its own, on loopback with
// a token in its URL. The daemon reports to it at once; `run`, `exec` and `up` with --inspect
// report to it while they run. If one is already running, this prints its URL instead.
import { safeJson } from "../../core/terminal-text.ts";
import { DaemonClient } from "../daemon/daemon-client.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import { createInspectorHub } from "../inspector/inspector-hub.ts";
import { readInspectorRecord, writeInspectorRecord } from "../inspector/inspector-record.ts";
import { startInspectorServer } from "../inspector/inspector-server.ts";
import { say } from "./cli-io.ts";
import { InspectorServerError, UsageError } from "../../core/errors.ts";

export async function runInspect(opts: { port?: number; json: boolean }): Promise<number> {
  const print = (value: Record<string, unknown>, text: string) => process.stdout.write(opts.json ? `${safeJson(value)}\n` : `${text}\n`);
  const running = readInspectorRecord();
  if (running) {
    if (opts.port !== undefined && opts.port !== running.port) {
      throw new UsageError(`an inspector is already running on port ${running.port} (pid ${running.pid}): open ${running.url}, or stop it first`);
    }
    print({ url: running.url, port: running.port, pid: running.pid, started: false }, running.url);
    if (!opts.json) say(`already running (pid ${running.pid})`);
    return ExitCode.ok;
  }
  const hub = createInspectorHub();
  let server;
  try {
    server = await startInspectorServer(hub, opts.port === undefined ? {} : { port: opts.port });
  } catch (err) {
    if (err instanceof InspectorServerError) throw new UsageError(err.message);
    throw err;
  }
  let unpublish;
  try {
    unpublish = writeInspectorRecord({ pid: process.pid, port: server.port, token: server.token, url: server.url });
  } catch (err) {
    await server.close(); // nothing left listening: the error says what is wrong with the run dir
    throw err;
  }
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  // A daemon that is up reports here from now on (no daemon: nothing to do).
  const daemon = await (await DaemonClient.connect())?.inspect().catch(() => null);
  print({ url: server.url, port: server.port, pid: process.pid, started: true, daemon: Boolean(daemon) }, server.url);
  if (!opts.json) {
    say(`inspector on 127.0.0.1:${server.port}${daemon ? ", showing the daemon" : ""}; \`run\`, \`exec\` and \`up\` with --inspect report here. Ctrl-C stops it.`);
  }
  await stopped;
  unpublish();
  await server.close();
  return ExitCode.ok;
}
