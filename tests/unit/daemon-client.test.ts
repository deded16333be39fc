// The CLI's side of the daemon socket against a scripted daemon: every reply is checked against
// its schema (an exec's outcome too: nothing is cast back), output arrives in wire form, an error
// reply becomes the error the same failure is in process, and aborting closes the connection.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { McpHubError, UsageError } from "../../core/errors.ts";
import { DaemonClient } from "../../src/daemon/daemon-client.ts";
import { DaemonError } from "../../core/errors.ts";
import { decodeClientMessage, type ClientMessage } from "../../src/daemon/daemon-protocol.ts";
import { readMessages, send } from "../../src/daemon/framed-socket.ts";
import type { ExecSpec, JobOutcome } from "../../src/service/ironclaw-service.ts";

let dir: string;
const servers: Server[] = [];
const sockets: Socket[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ironclaw-daemon-client-"));
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

/** A daemon that answers each request with what `script` sends, then closes (unless it returns "hold"). */
async function daemon(script: (request: ClientMessage, socket: Socket) => unknown[] | "hold"): Promise<{ client: DaemonClient; closed: Promise<void> }> {
  const path = join(dir, `daemon-${servers.length}.sock`);
  let closedNow: () => void = () => {};
  const closed = new Promise<void>((resolve) => (closedNow = resolve));
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("close", () => closedNow());
    readMessages(
      socket,
      decodeClientMessage,
      (request) => {
        const replies = script(request, socket);
        if (replies === "hold") return;
        for (const reply of replies) send(socket, reply);
        socket.end();
      },
      () => socket.destroy(),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { client: (await DaemonClient.connect(path))!, closed };
}

const spec: ExecSpec = { job: { argv: ["true"], timeoutMs: 1000 }, memoryMiB: 512, pidsMax: 256, limitsExplicit: false, cpusExplicit: false };
const outcome: JobOutcome = {
  sandbox: "x1",
  isolation: "namespaces",
  leased: true,
  result: { code: 0, signal: null, timedOut: false, truncated: false, outputBytes: 2, durationMs: 3, oomKilled: false },
  commandError: null,
  failure: null,
  oomAtTeardown: false,
  pidsAtTeardown: false,
};

describe("DaemonClient", () => {
  it("is null when no daemon answers", async () => {
    expect(await DaemonClient.connect(join(dir, "none.sock"))).toBeNull();
  });

  it("runs an exec: the request as the service takes it, ready and output in wire form, the outcome checked", async () => {
    const requests: ClientMessage[] = [];
    const { client } = await daemon((request) => {
      requests.push(request);
      return [
        { type: "ready", sandbox: "x1", isolation: "namespaces", leased: true, backend: "namespace" },
        { type: "output", stream: "stdout", data: Buffer.from("hi").toString("base64") },
        { type: "done", backend: "namespace", passedOver: [{ backend: "qemu", reason: "works, but only emulated here" }], limits: "cgroup v2", outcome },
      ];
    });
    const seen: string[] = [];
    const report = await client.exec(spec, { ready: (r) => seen.push(`ready ${r.sandbox}`), output: (stream, data) => seen.push(`${stream} ${data}`) });
    expect(requests).toEqual([{ type: "exec", ...spec }]);
    expect(seen).toEqual(["ready x1", `stdout ${Buffer.from("hi").toString("base64")}`]);
    expect(report).toEqual({ backend: "namespace", passedOver: [{ backend: "qemu", reason: "works, but only emulated here" }], limits: "cgroup v2", outcome });
  });

  it("refuses an outcome that does not match its schema", async () => {
    const { client } = await daemon(() => [{ type: "done", backend: "namespace", passedOver: [], limits: "", outcome: { ...outcome, result: { code: "zero" } } }]);
    await expect(client.exec(spec)).rejects.toMatchObject({ code: "EPROTO", message: expect.stringMatching(/^the daemon sent an invalid message/) });
  });

  it("turns an error reply into the error it is in process: a usage error stays one, an MCP failure is the server's", async () => {
    const usage = await daemon(() => [{ type: "error", code: "EUSAGE", message: 'unknown backend "nope"' }]);
    await expect(usage.client.exec(spec)).rejects.toBeInstanceOf(UsageError);
    const refused = await daemon(() => [{ type: "error", code: "ELIMITS", message: "cannot enforce --memory/--pids here" }]);
    await expect(refused.client.exec(spec)).rejects.toEqual(new DaemonError("ELIMITS", "cannot enforce --memory/--pids here"));
    const mcp = await daemon(() => [{ type: "error", code: "ETIMEDOUT", message: "no answer" }]);
    await expect(mcp.client.mcp.tools("everything")).rejects.toEqual(new McpHubError("ETIMEDOUT", "no answer"));
  });

  it("cancels an exec by closing its connection when the signal aborts", async () => {
    const { client, closed } = await daemon(() => "hold");
    const cancel = new AbortController();
    const running = expect(client.exec(spec, {}, cancel.signal)).rejects.toMatchObject({ code: "EPIPE" });
    cancel.abort();
    await closed;
    await running;
  });

  it("refuses to run an agent session", async () => {
    const { client } = await daemon(() => []);
    await expect(client.run({} as never)).rejects.toMatchObject({ code: "ENOTSUPPORTED" });
  });
});
