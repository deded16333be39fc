// The CLI's side of the daemon socket: one request per connection, replies streamed back.
import { connect, type Socket } from "node:net";
import { decodeDaemonMessage, type ClientMessage, type DaemonMessage } from "./daemon-protocol.ts";
import { daemonSocketPath } from "./daemon-paths.ts";
import { readMessages, send } from "./framed-socket.ts";

/** Connects to a running daemon; null when none answers (no socket, or a stale one). */
export function connectDaemon(path = daemonSocketPath()): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => resolve(socket));
    socket.once("error", () => resolve(null));
  });
}

/**
 * Sends one request and calls `onMessage` for every reply until the daemon closes the
 * connection. Rejects if the daemon goes away mid-request or breaks protocol.
 */
export function request(socket: Socket, message: ClientMessage, onMessage: (m: DaemonMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed: Error | null = null;
    readMessages(socket, decodeDaemonMessage, onMessage, (error) => (failed = new Error(`the daemon sent an invalid message: ${error}`)));
    socket.once("error", (e) => (failed ??= new Error(`lost the daemon: ${e.message}`)));
    socket.once("close", () => (failed ? reject(failed) : resolve()));
    send(socket, message);
  });
}

/** For one-answer requests (status, pool stats, …): the daemon's single reply. */
export async function ask(message: ClientMessage): Promise<DaemonMessage | null> {
  const socket = await connectDaemon();
  if (!socket) return null;
  let answer: DaemonMessage | null = null;
  await request(socket, message, (m) => (answer = m));
  return answer;
}
