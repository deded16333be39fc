// The Firecracker API client and the vsock connector against local stand-ins on Unix sockets.
// Firecracker cannot run on these machines (not packaged; KVM here is PVM-only), so this is a
// test double in Firecracker's real wire format: an HTTP server that accepts only what
// Firecracker's API description accepts, and a vsock proxy that speaks its CONNECT/OK
// handshake before handing over to a guest agent's first frame.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bootPlan, sendAll } from "../../actors/sandbox/firecracker-api.ts";
import { GuestChannel } from "../../actors/guest/guest-channel.ts";
import { connectVsock } from "../../actors/guest/vsock.ts";
import { encodeFrame } from "../../guest-agent/framing.ts";
import { PROTOCOL_VERSION } from "../../guest-agent/guest-protocol.ts";
import { createValidator, specPresent, vmConfig } from "../support/firecracker-spec.ts";
import { FirecrackerApiError } from "../../core/errors.ts";

const scratch = process.env.IRONCLAW_TEST_SCRATCH ?? tmpdir();
mkdirSync(scratch, { recursive: true });
const dir = mkdtempSync(join(scratch, "fc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function listen(server: Server | ReturnType<typeof createNetServer>, path: string): Promise<void> {
  return new Promise((resolve) => server.listen(path, resolve));
}

describe.skipIf(!specPresent)("Firecracker API client", () => {
  it("sends the boot plan in order, as JSON Firecracker accepts, and reports Firecracker's fault message", async () => {
    const problems = createValidator();
    const seen: string[] = [];
    const server = createHttpServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        const parsed = body ? JSON.parse(body) : undefined;
        const wrong = problems(req.method!, req.url!, parsed);
        seen.push(`${req.method} ${req.url}`);
        if (req.headers["content-type"] !== "application/json") wrong.push("content-type is not application/json");
        if (wrong.length) {
          res.writeHead(400, { "Content-Type": "application/json" }).end(JSON.stringify({ fault_message: wrong.join("; ") }));
        } else res.writeHead(204).end();
      });
    });
    const socket = join(dir, "api.sock");
    await listen(server, socket);
    try {
      const plan = bootPlan(vmConfig);
      await sendAll(socket, plan);
      expect(seen).toEqual(plan.map((r) => `${r.method} ${r.path}`));
      const err = await sendAll(socket, [{ method: "PUT", path: "/machine-config", body: { vcpu_count: 0, mem_size_mib: 1 } }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FirecrackerApiError);
      expect((err as Error).message).toMatch(/^firecracker PUT \/machine-config failed \(400\): .*vcpu_count/);
    } finally {
      server.close();
    }
  });
});

describe("vsock connector", () => {
  it("retries until the guest listens, completes the handshake, and hands the stream to the guest protocol", async () => {
    const socket = join(dir, "vsock.sock");
    const proxy = createNetServer((conn) => {
      conn.once("data", (d) => {
        expect(d.toString()).toBe("CONNECT 52\n");
        // The handshake reply and the guest's first frame may arrive in one chunk.
        conn.write(Buffer.concat([Buffer.from("OK 1073741824\n"), encodeFrame({ type: "hello", protocol: PROTOCOL_VERSION, agent: "t", pid: 1, kernel: "6.1.0-guest" })]));
      });
    });
    setTimeout(() => void listen(proxy, socket), 150); // the guest is not up yet when we start
    try {
      const stream = await connectVsock(socket, 52, 5000);
      const channel = new GuestChannel(stream, stream);
      expect((await channel.hello).kernel).toBe("6.1.0-guest");
      stream.destroy();
    } finally {
      proxy.close();
    }
  });

  it("gives up with a clear error when the guest port refuses", async () => {
    const socket = join(dir, "refuse.sock");
    const proxy = createNetServer((conn) => conn.once("data", () => conn.end("FAILURE\n")));
    await listen(proxy, socket);
    try {
      await expect(connectVsock(socket, 52, 200)).rejects.toThrow(/guest port 52 refused the connection/);
    } finally {
      proxy.close();
    }
  });
});
