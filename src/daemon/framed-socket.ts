// Framed, schema-checked messages over a Unix socket: the daemon protocol's transport, on the
// same framing as the guest protocol.
import type { Socket } from "node:net";
import { encodeFrame, FrameDecoder } from "../../guest-agent/framing.ts";

export type Decode<T> = (json: unknown) => { ok: true; value: T } | { ok: false; error: string };

/** Calls `onMessage` for each valid message; a broken frame or invalid message ends the connection. */
export function readMessages<T>(socket: Socket, decode: Decode<T>, onMessage: (message: T) => void, onInvalid: (error: string) => void): void {
  const decoder = new FrameDecoder();
  socket.on("data", (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) {
      if (!frame.ok) {
        onInvalid(frame.error);
        socket.destroy();
        return;
      }
      const decoded = decode(frame.json);
      if (!decoded.ok) {
        onInvalid(decoded.error);
        socket.destroy();
        return;
      }
      onMessage(decoded.value);
    }
  });
}

export function send(socket: Socket, message: unknown): void {
  if (!socket.destroyed) socket.write(encodeFrame(message));
}
