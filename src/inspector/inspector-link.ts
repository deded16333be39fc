// A process reporting to an inspector that runs elsewhere (`ironclaw inspect`): its source's
// messages go up one WebSocket, answers to its approval requests come down the same one.
import WebSocket from "ws";
import type { InspectionSource } from "./inspection-source.ts";
import { decodeHubCommand } from "./inspector-protocol.ts";
import { MAX_UNREAD } from "./inspector-server.ts";

export interface InspectorLink {
  /** Resolves once what was sent has gone out and the socket is closed. */
  close(): Promise<void>;
  /** Resolves when the inspector goes away on its own. */
  readonly lost: Promise<void>;
}

const OPEN_TIMEOUT_MS = 2000;

export async function linkToInspector(source: InspectionSource, hub: { port: number; token: string; host?: string }): Promise<InspectorLink> {
  const host = hub.host ?? "127.0.0.1";
  const ws = new WebSocket(`ws://${host}:${hub.port}/ws/source?token=${encodeURIComponent(hub.token)}`, { maxPayload: 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`the inspector on port ${hub.port} did not answer`));
    }, OPEN_TIMEOUT_MS);
    ws.once("open", () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the inspector on port ${hub.port}: ${err.message}`));
    });
  });
  const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
  ws.on("error", () => {}); // reported as the close that follows
  const stop = source.connect((message) => {
    if (ws.readyState !== ws.OPEN) return;
    // An inspector that stopped reading (suspended): drop the link rather than buffer forever.
    if (ws.bufferedAmount > MAX_UNREAD) return void ws.terminate();
    ws.send(JSON.stringify(message));
  });
  ws.on("message", (data) => {
    const command = decodeHubCommand(data.toString());
    if (command.ok) ws.send(JSON.stringify(source.answer(command.value)));
  });
  void closed.then(stop);
  return {
    lost: closed,
    async close() {
      stop();
      if (ws.readyState === ws.OPEN) ws.close(1000, "the process is ending");
      const timer = setTimeout(() => ws.terminate(), 1000);
      await closed;
      clearTimeout(timer);
    },
  };
}
