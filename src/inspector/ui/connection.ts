// The page's connection to the hub: the connection machine (machines/inspector-connection.machine.ts)
// with the page's socket (hub-socket.ts), the messages that arrive on it, and how the connection
// is shown: the button in the top bar (click: retry now) and the banner over a stale picture.
import { createActor } from "xstate";
import { inspectorConnectionMachine } from "../../../machines/inspector-connection.machine.ts";
import type { Answer, AnswerResult, UiMessage } from "../inspector-protocol.ts";
import { byId, setAttr, setText } from "./dom.ts";
import { hubSocket } from "./hub-socket.ts";
import { timeOfDay } from "./model.ts";
import { applyHubMessage, lastReportAt, schedule } from "./page.ts";

// The server writes the token into the page; the URL has it too when the page is opened by hand.
const tokenMeta = document.querySelector<HTMLMetaElement>('meta[name="ironclaw-token"]')?.content ?? "";
const token = tokenMeta && tokenMeta !== "%TOKEN%" ? tokenMeta : (new URLSearchParams(location.search).get("token") ?? "");
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?token=${encodeURIComponent(token)}`;

const HUB_TEXT = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", offline: "offline" } as const;

const socket = hubSocket(wsUrl, receive);
const connection = createActor(inspectorConnectionMachine.provide({ actors: { socket: socket.logic } }), { input: {} });
/** When the next attempt is due, while one waits. */
let retryAt = 0;
let answerResult: (result: AnswerResult) => void = () => {};

export const isLive = () => connection.getSnapshot().matches({ hub: "live" });

/** Connects, and keeps connecting. `lost`: the page was live and is not (answers in flight may not have arrived). */
export function startConnection(on: { answerResult(result: AnswerResult): void; lost(): void }) {
  answerResult = on.answerResult;
  connection.on("connection.lost", on.lost);
  connection.on("retry.scheduled", (e) => (retryAt = Date.now() + e.delayMs));
  connection.subscribe(() => {
    showConnection();
    schedule();
  });
  connection.start();
}

export function retryNow() {
  connection.send({ type: "RETRY" });
}

/** false when the page is not live: nothing was sent. */
export function sendAnswer(answer: Answer): boolean {
  return isLive() && socket.send(JSON.stringify(answer));
}

function receive(text: string) {
  let msg: UiMessage;
  try {
    msg = JSON.parse(text) as UiMessage;
  } catch {
    console.warn("inspector: a message that is not JSON", text.slice(0, 200));
    return;
  }
  if (typeof msg !== "object" || msg === null || typeof msg.type !== "string") return;
  if (msg.type === "answer.result") return answerResult(msg);
  // The hub starts every connection with `state`; a change before it would land on stale data.
  if (msg.type !== "state" && !isLive()) return;
  if (applyHubMessage(msg)) connection.send({ type: "HUB.SYNCED" });
}

export function showConnection() {
  const snapshot = connection.getSnapshot();
  const live = isLive();
  const hub = snapshot.value.hub;
  const el = byId("connection");
  setText(el, HUB_TEXT[hub]);
  setAttr(el, "data-state", hub);
  const next = snapshot.matches({ socket: "closed" }) ? ` Next attempt in ${Math.max(0, Math.ceil((retryAt - Date.now()) / 1000))} s; click to retry now.` : " Connecting…";
  setAttr(el, "title", live ? "Connected to the inspector hub: changes appear as they happen." : `Not connected to the inspector hub.${next}`);
  document.body.classList.toggle("stale", !live);
  const banner = byId("stale");
  banner.hidden = live;
  if (!live) {
    const lastStateAt = lastReportAt();
    setText(
      banner,
      lastStateAt === null
        ? token
          ? "Waiting for the inspector hub…"
          : "This page's address has no token: open the URL that `ironclaw inspect` printed."
        : `Not connected: this is what the hub reported until ${timeOfDay(lastStateAt)}. Answers are disabled until the connection is back.`,
    );
  }
}
