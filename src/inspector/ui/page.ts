// What the page shows, and when it is drawn: the model rebuilt from the hub's messages
// (model.ts), the selected actor (kept in the URL's #actor=…, so a reload or a shared link
// shows the same one), and one redraw per frame, however many messages arrive in it.
import type { UiMessage } from "../inspector-protocol.ts";
import { applyMessage, emptyModel, type Model } from "./model.ts";

let model: Model = emptyModel();
let selected: string | null = selectedFromHash();
/** When the hub last reported (a message applied); null: not yet, since the page loaded. */
let lastStateAt: number | null = null;
let frame = 0;
let draw: () => void = () => {};

export const currentModel = (): Model => model;
export const selectedKey = (): string | null => selected;
export const lastReportAt = (): number | null => lastStateAt;

/** The panels' drawing, called once per scheduled frame. */
export function drawWith(render: () => void) {
  draw = render;
}

export function schedule() {
  if (frame) return;
  // A hidden tab draws nothing (requestAnimationFrame waits); a timer keeps it current anyway.
  frame = document.hidden ? window.setTimeout(render, 250) : requestAnimationFrame(render);
}

function render() {
  frame = 0;
  draw();
}

export function select(key: string | null) {
  selected = key;
  const hash = key ? `#actor=${encodeURIComponent(key)}` : "";
  if (location.hash !== hash) history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
  schedule();
}

export function selectedFromHash(): string | null {
  const m = /^#actor=(.+)$/.exec(location.hash);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
}

/**
 * Applies one message of the hub's stream. Returns true when it was the hub's whole state (the
 * page is in sync with the hub again); false otherwise, and when it could not be applied.
 */
export function applyHubMessage(msg: UiMessage): boolean {
  let result: ReturnType<typeof applyMessage>;
  try {
    result = applyMessage(model, msg);
  } catch (error) {
    console.warn("inspector: a message of an unexpected shape", msg.type, error);
    return false;
  }
  model = result.model;
  lastStateAt = Date.now();
  if (result.changed === "all") {
    // A fresh picture: whatever the page showed before is gone.
    if (selected && !model.actors.has(selected)) select(null);
    schedule();
    return true;
  }
  if (result.changed === "log" && result.key !== selected) return false;
  if (result.changed === "machine" && (!selected || model.actors.get(selected)?.actor.machine !== result.key)) return false;
  schedule();
  return false;
}
