// The page's side of the connection machine (machines/inspector-connection.machine.ts): the
// `socket` actor, one WebSocket to the hub for as long as the machine is in socket.open. Text
// messages go to `onText`; a socket that closes (or cannot be opened) sends SOCKET.CLOSED;
// stopping the actor closes the socket. `send` writes to the socket of the moment, if it is open.
// No DOM here, only the WebSocket global: a test drives it against a real server.
import { fromCallback, type CallbackActorLogic, type EventObject } from "xstate";
import type { InspectorConnectionEvent } from "../../../machines/inspector-connection.machine.ts";

export interface HubSocket {
  readonly logic: CallbackActorLogic<EventObject>;
  /** false when no socket is open: nothing was sent. */
  send(text: string): boolean;
}

export function hubSocket(url: string, onText: (text: string) => void): HubSocket {
  let current: WebSocket | null = null;
  const logic = fromCallback<EventObject>(({ sendBack }) => {
    const closed: InspectorConnectionEvent = { type: "SOCKET.CLOSED" };
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch {
      sendBack(closed);
      return;
    }
    current = ws;
    ws.onmessage = (ev) => {
      if (current === ws && typeof ev.data === "string") onText(ev.data);
    };
    ws.onclose = () => {
      if (current !== ws) return;
      current = null;
      sendBack(closed);
    };
    ws.onerror = () => ws.close();
    return () => {
      if (current === ws) current = null;
      ws.close();
    };
  });
  return {
    logic,
    send(text) {
      if (current?.readyState !== WebSocket.OPEN) return false;
      current.send(text);
      return true;
    },
  };
}
