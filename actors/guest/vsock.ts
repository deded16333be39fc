// Host-initiated connections into a guest's vsock through a Unix socket that proxies them
// (Firecracker's model): connect, write `CONNECT <port>\n`, read `OK <host port>\n`, and the
// socket is then a byte stream to the guest. The guest agent needs a moment after boot to
// listen, so connecting is retried on an Effect Schedule until a deadline.
import { connect, type Socket } from "node:net";
import { Effect, Schedule } from "effect";
import { VsockError } from "../../core/errors.ts";

function connectOnce(udsPath: string, port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(udsPath);
    let reply = "";
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(new VsockError(why));
    };
    signal.addEventListener("abort", () => fail("aborted"), { once: true });
    socket.once("error", (e) => fail(`cannot reach ${udsPath}: ${e.message}`));
    socket.once("connect", () => socket.write(`CONNECT ${port}\n`));
    const onData = (chunk: Buffer) => {
      reply += chunk.toString("latin1");
      const nl = reply.indexOf("\n");
      if (nl < 0) {
        if (reply.length > 64) fail(`unexpected handshake reply ${JSON.stringify(reply.slice(0, 64))}`);
        return;
      }
      socket.off("data", onData);
      const line = reply.slice(0, nl);
      if (!/^OK \d+$/.test(line)) return fail(`guest port ${port} refused the connection (${JSON.stringify(line)})`);
      // Bytes after the handshake line already belong to the guest protocol.
      const rest = Buffer.from(reply.slice(nl + 1), "latin1");
      settled = true;
      socket.pause();
      if (rest.length) socket.unshift(rest);
      resolve(socket);
    };
    socket.on("data", onData);
    socket.once("close", () => fail("closed during the vsock handshake"));
  });
}

export function connectVsock(udsPath: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  const attempt = Effect.tryPromise({ try: (s) => connectOnce(udsPath, port, s), catch: (e) => e as VsockError });
  const everyFewMs = Schedule.spaced("20 millis");
  const program = attempt.pipe(Effect.retry({ schedule: everyFewMs, times: Math.max(1, Math.ceil(timeoutMs / 20)) }));
  return Effect.runPromise(program, signal ? { signal } : undefined);
}
