// Model-based test of the inspector page's connection: every state, and every transition out of
// it, replayed against the real machine with the page's real socket effect
// (src/inspector/ui/hub-socket.ts) and a real WebSocket server on 127.0.0.1. The server closes
// the page's socket and sends the hub's state; timers run on a clock the test fires by hand, so
// the retry and the offline timers each fire exactly when the path says. Whatever the path, the
// page has at most one socket, the retry delays double from the first and start again once live
// or retried by hand, a lost connection is announced once per loss, and stopping closes the socket.
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { createActor, waitFor, type AnyEventObject, type SnapshotFrom } from "xstate";
import { WebSocketServer, type WebSocket as ServerSocket } from "ws";
import { inspectorConnectionMachine, OFFLINE_AFTER_MS, RETRY_FIRST_MS, RETRY_MAX_MS } from "../../machines/inspector-connection.machine.ts";
import { hubSocket } from "../../src/inspector/ui/hub-socket.ts";
import { modelCoverage, recordCoverage } from "../support/model-coverage.ts";
import { createMachineTestModel, stateTrail, transitionPaths } from "../support/test-model.ts";

type Snap = SnapshotFrom<typeof inspectorConnectionMachine>;
type Step = { event: AnyEventObject; state: Snap };

// random = 1: every retry waits the whole backoff ceiling, so the delays are exact.
const INPUT = { random: () => 1 };
const RETRY_TIMER = "xstate.after.retry.inspectorConnection.socket.closed";
const OFFLINE_TIMERS = ["connecting", "reconnecting"].map((s) => `xstate.after.offlineAfter.inspectorConnection.hub.${s}`);

const key = (s: Snap) => JSON.stringify(s.value);
const name = (e: AnyEventObject) => e.type.replace(/^xstate\.after\.([a-zA-Z]+)\.inspectorConnection\.(.+)$/, "after $1 ($2)");
const model = createMachineTestModel(inspectorConnectionMachine, {
  events: [{ type: "SOCKET.CLOSED" }, { type: "HUB.SYNCED" }, { type: "RETRY" }, { type: RETRY_TIMER }, ...OFFLINE_TIMERS.map((type) => ({ type }))] as never,
  serializeState: key as never,
  input: INPUT,
});
/** Without an open socket nothing can close, and no message can arrive. */
const offered = (from: Snap, e: AnyEventObject) => (e.type !== "SOCKET.CLOSED" && e.type !== "HUB.SYNCED") || from.matches({ socket: "open" });
const paths = transitionPaths(model as never, key, name, offered as never) as Step[][];

/** XState's timers, held until the test fires one: the clock never moves by itself. */
function handClock() {
  let seq = 0;
  const pending = new Map<number, { fn: () => void; ms: number }>();
  return {
    setTimeout: (fn: () => void, ms: number) => (pending.set(++seq, { fn, ms }), seq),
    clearTimeout: (id: number) => void pending.delete(id),
    /** Fires the one pending timer `which` picks (by its delay). */
    fire(which: (ms: number) => boolean) {
      const due = [...pending].filter(([, t]) => which(t.ms));
      expect(due, "exactly one such timer is pending").toHaveLength(1);
      const [id, timer] = due[0]!;
      pending.delete(id);
      timer.fn();
    },
  };
}

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

describe("inspector connection, model-based, against a real WebSocket server", () => {
  // A state added to the machine that no path reaches fails here, by its id.
  it("reaches every state of the machine", () => {
    const report = modelCoverage(inspectorConnectionMachine, paths, { input: INPUT });
    recordCoverage("inspector-connection", report);
    expect(report.states.missing, "states of the connection that no path reaches").toEqual([]);
    expect(
      report.transitions.missing.map((t) => t.label),
      "transitions no path takes",
    ).toEqual([]);
  });

  it.each(paths.map((p) => [p.map((s) => name(s.event)).join(" → "), p] as const))("%s", async (_, steps) => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    servers.push(server);
    await once(server, "listening");
    const accepted: ServerSocket[] = [];
    server.on("connection", (ws) => accepted.push(ws));
    /** The server's end of the page's socket, once the page has connected. */
    const serverEnd = async () => {
      while (accepted.at(-1)?.readyState !== 1) await once(server, "connection");
      return accepted.at(-1)!;
    };

    const clock = handClock();
    // As the page does: the hub's `state` message makes it live.
    const socket = hubSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`, (text) => {
      if ((JSON.parse(text) as { type: string }).type === "state") actor.send({ type: "HUB.SYNCED" });
    });
    const actor = createActor(inspectorConnectionMachine.provide({ actors: { socket: socket.logic } }), { clock, input: INPUT });
    const delays: number[] = [];
    let lost = 0;
    actor.on("retry.scheduled", (e) => delays.push(e.delayMs));
    actor.on("connection.lost", () => lost++);
    const { seen, reach } = stateTrail(actor, key);
    actor.start();

    let opened = 1;
    let attempt = 0;
    const expectedDelays: number[] = [];
    let expectedLost = 0;
    let before = actor.getSnapshot();
    for (const step of steps) {
      switch (step.event.type) {
        case "SOCKET.CLOSED":
          (await serverEnd()).close();
          expectedDelays.push(Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt++));
          if (before.matches({ hub: "live" })) expectedLost++;
          break;
        case "HUB.SYNCED":
          (await serverEnd()).send(JSON.stringify({ type: "state" }));
          attempt = 0;
          break;
        case "RETRY":
          actor.send({ type: "RETRY" });
          if (before.matches({ socket: "closed" })) [attempt, opened] = [0, opened + 1];
          break;
        case RETRY_TIMER:
          clock.fire((ms) => ms !== OFFLINE_AFTER_MS);
          opened++;
          break;
        case OFFLINE_TIMERS[0]:
        case OFFLINE_TIMERS[1]:
          clock.fire((ms) => ms === OFFLINE_AFTER_MS);
          break;
        default: // xstate.init
      }
      await reach(key(step.state));
      before = actor.getSnapshot();
      // Answers go out only over an open socket: always while live, never while waiting to retry.
      if (before.matches({ hub: "live" })) expect(socket.send(JSON.stringify({ type: "deny" }))).toBe(true);
      if (before.matches({ socket: "closed" })) expect(socket.send(JSON.stringify({ type: "deny" }))).toBe(false);
    }

    expect(seen.at(-1)).toBe(key(steps.at(-1)!.state));
    expect(delays).toEqual(expectedDelays);
    expect(lost).toBe(expectedLost);
    // One socket per entry into socket.open, and never two at once.
    if (before.matches({ socket: "open" })) await serverEnd();
    expect(accepted).toHaveLength(opened);
    expect(accepted.filter((ws) => ws.readyState === 1).length).toBeLessThanOrEqual(1);
    // Stopping the machine closes the page's socket.
    const open = accepted.filter((ws) => ws.readyState === 1);
    actor.stop();
    await Promise.all(open.map((ws) => once(ws, "close")));
  });
});

describe("inspector connection's backoff", () => {
  it("doubles the wait after each failed attempt up to the longest, and starts again at the first once live", async () => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    servers.push(server);
    await once(server, "listening");
    const clock = handClock();
    const socket = hubSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`, () => actor.send({ type: "HUB.SYNCED" }));
    const actor = createActor(inspectorConnectionMachine.provide({ actors: { socket: socket.logic } }), { clock, input: INPUT });
    const delays: number[] = [];
    actor.on("retry.scheduled", (e) => delays.push(e.delayMs));
    const next = () => once(server, "connection").then(([ws]) => ws as ServerSocket);
    let connection = next();
    actor.start();
    (await connection).close();
    await waitFor(actor, (s) => s.matches({ socket: "closed" }));
    for (let i = 0; i < 7; i++) {
      connection = next();
      clock.fire((ms) => ms !== OFFLINE_AFTER_MS);
      (await connection).close();
      await waitFor(actor, (s) => s.matches({ socket: "closed" }));
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    connection = next();
    clock.fire((ms) => ms !== OFFLINE_AFTER_MS);
    const ws = await connection;
    ws.send(JSON.stringify({ type: "state" }));
    await waitFor(actor, (s) => s.matches({ hub: "live" }));
    ws.close();
    await waitFor(actor, (s) => s.matches({ socket: "closed" }));
    expect(delays.at(-1)).toBe(RETRY_FIRST_MS);
    actor.stop();
  });
});
