// The inspector's server, hub and source with real actors over real loopback sockets: the
// token, what a tab gets on (re)connect, answers driving a real approval-request actor, the
// @statelyai/inspect stream read by Stately's own receiver, and a process reporting from afar.
import { createWebSocketReceiver } from "@statelyai/inspect";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { assign, createActor, createMachine } from "xstate";
import { approvalRequestMachine } from "../../machines/approval-request.machine.ts";
import { createInspectionSource } from "../../src/inspector/inspection-source.ts";
import { attachInspector } from "../../src/inspector/inspector-attach.ts";
import { createInspectorHub } from "../../src/inspector/inspector-hub.ts";
import { linkToInspector } from "../../src/inspector/inspector-link.ts";
import type { UiMessage } from "../../src/inspector/inspector-protocol.ts";
import { startInspectorServer, type InspectorServer } from "../../src/inspector/inspector-server.ts";

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on("error", reject)
      .end();
  });
}

/** A tab: collects every UiMessage; `until` waits for one that matches. */
function tab(server: InspectorServer, token = server.token) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${encodeURIComponent(token)}`);
  const messages: UiMessage[] = [];
  const waiters: Array<() => void> = [];
  ws.on("message", (d) => {
    messages.push(JSON.parse(d.toString()) as UiMessage);
    for (const w of waiters.splice(0)) w();
  });
  cleanup.push(() => ws.terminate());
  const until = async <T extends UiMessage>(pred: (m: UiMessage) => m is T, ms = 5000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = messages.find(pred);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no such message; got ${messages.map((m) => m.type).join(",")}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  return { ws, messages, until };
}

const approvalInput = {
  id: "a1",
  sessionId: "s1",
  actionHash: "a".repeat(64),
  card: { kind: "exec", title: "run", argv: ["rm", "-rf", "x"], cwd: "/", envNames: [], network: false },
  summary: "rm -rf x",
  deadlineMs: 60_000,
  interactive: true,
};

/** A request, and the hashes it was approved for (what its session would then run). */
function approvalActor(source: ReturnType<typeof createInspectionSource>) {
  const ran: string[] = [];
  const actor = createActor(approvalRequestMachine, { input: approvalInput, inspect: source.inspect });
  actor.on("approval.settled", (e) => e.outcome === "approved" && ran.push(e.actionHash));
  cleanup.push(() => actor.stop());
  return { actor, ran };
}

async function served() {
  const source = createInspectionSource({ pid: process.pid, command: "test", cwd: process.cwd() });
  const attached = await attachInspector(source, { port: 0 });
  cleanup.push(() => attached.close());
  const url = new URL(attached.url);
  const server = { port: Number(url.port), token: url.searchParams.get("token")!, url: attached.url } as InspectorServer;
  return { source, server, attached };
}

describe("inspector server", () => {
  it("answers 401 with no data to a missing or wrong token, on HTTP and WebSocket", async () => {
    const { source, server } = await served();
    approvalActor(source).actor.start();
    const base = `http://127.0.0.1:${server.port}`;
    for (const path of ["/", "/api/state", "/app.js", "/mermaid.min.js", `/api/state?token=${"x".repeat(server.token.length)}`, `/api/state?token=${server.token}x`]) {
      const res = await get(base + path);
      expect(res.status, path).toBe(401);
      expect(res.body).not.toContain("rm -rf");
    }
    const ok = await get(`${base}/api/state?token=${server.token}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain("rm -rf x");
    // Another site's name resolving to 127.0.0.1 sends its own Host: refused even with the token.
    expect((await get(`${base}/api/state?token=${server.token}`, { host: "evil.example:80" })).status).toBe(401);
    for (const path of ["/ws", "/ws/stately", "/ws/source"]) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}?token=wrong`);
      const status = await new Promise<number>((resolve) => ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)));
      expect(status, path).toBe(401);
    }
  });

  it("listens on loopback only", async () => {
    await expect(startInspectorServer(createInspectorHub(), { host: "0.0.0.0" })).rejects.toThrow(/loopback only/);
    const { server } = await served();
    expect(new URL(server.url).hostname).toBe("127.0.0.1");
  });

  it("gives a tab the whole state on connect and again on reconnect, never a stale one", async () => {
    const { source, server } = await served();
    const { actor } = approvalActor(source);
    actor.start();
    const first = tab(server);
    const state = await first.until((m): m is Extract<UiMessage, { type: "state" }> => m.type === "state");
    const view = state.actors.find((a) => a.actor.machine === "approval")!.actor;
    expect(view.value).toBe("pending");
    expect(view.active).toEqual(["approval_pending"]);
    expect(view.approval?.actionHash).toBe(approvalInput.actionHash);
    expect(state.machines.approval).toContain("stateDiagram-v2");
    first.ws.close();
    // Changes while the tab is away …
    actor.send({ type: "DENY", reason: "no" });
    const second = tab(server);
    const now = await second.until((m): m is Extract<UiMessage, { type: "state" }> => m.type === "state");
    const after = now.actors.find((a) => a.actor.id === view.id)!.actor;
    // … are what the returning tab sees: the request denied and ended, not pending.
    expect(after.value).toBe("denied");
    expect(after.status).toBe("done");
    expect(after.approval).toBeNull();
    expect(now.log.filter((l) => l.entry.actorId === view.id).map((l) => l.entry.text)).toEqual(expect.arrayContaining(["DENY", "denied (done)"]));
  });

  it("drives the approval actor: a stale hash is refused and leaves it pending; the shown hash approves and the action runs", async () => {
    const { source, server } = await served();
    const { actor, ran } = approvalActor(source);
    actor.start();
    const t = tab(server);
    const state = await t.until((m): m is Extract<UiMessage, { type: "state" }> => m.type === "state");
    const { process, actor: view } = state.actors.find((a) => a.actor.machine === "approval")!;
    t.ws.send(JSON.stringify({ type: "approve", requestId: "r1", process, actorId: view.id, actionHash: "b".repeat(64) }));
    const refused = await t.until((m): m is Extract<UiMessage, { type: "answer.result" }> => m.type === "answer.result" && m.requestId === "r1");
    expect(refused.ok).toBe(false);
    expect(refused.message).toMatch(/different action/);
    expect(actor.getSnapshot().value).toBe("pending");
    expect(ran).toEqual([]);
    t.ws.send(JSON.stringify({ type: "approve", requestId: "r2", process, actorId: view.id, actionHash: approvalInput.actionHash }));
    const approved = await t.until((m): m is Extract<UiMessage, { type: "answer.result" }> => m.type === "answer.result" && m.requestId === "r2");
    expect(approved).toMatchObject({ ok: true, message: "approved" });
    await t.until((m): m is Extract<UiMessage, { type: "actor" }> => m.type === "actor" && m.actor.id === view.id && m.actor.value === "approved");
    expect(ran).toEqual([approvalInput.actionHash]);
    // A second answer to an ended request changes nothing.
    t.ws.send(JSON.stringify({ type: "deny", requestId: "r3", process, actorId: view.id }));
    const late = await t.until((m): m is Extract<UiMessage, { type: "answer.result" }> => m.type === "answer.result" && m.requestId === "r3");
    expect(late.ok).toBe(false);
    // Not an answer at all: the tab is dropped.
    const closed = new Promise<number>((r) => t.ws.once("close", (code) => r(code)));
    t.ws.send(JSON.stringify({ type: "approve", actorId: 1 }));
    expect(await closed).toBe(1008);
  });

  it("speaks @statelyai/inspect's WebSocket protocol to Stately's own receiver", async () => {
    const { source, server } = await served();
    const receiver = createWebSocketReceiver({ server: `ws://127.0.0.1:${server.port}/ws/stately?token=${server.token}` });
    const events: Array<Record<string, unknown>> = [];
    receiver.subscribe((e) => events.push(e as unknown as Record<string, unknown>));
    await new Promise((r) => setTimeout(r, 300)); // the receiver handles messages once its socket is open
    const { actor } = approvalActor(source);
    actor.start();
    actor.send({ type: "APPROVE", actionHash: approvalInput.actionHash });
    const deadline = Date.now() + 5000;
    while (!events.some((e) => e.type === "@xstate.snapshot" && (e.snapshot as { value?: unknown }).value === "approved") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const created = events.find((e) => e.type === "@xstate.actor")!;
    expect(created).toMatchObject({ name: expect.any(String), sessionId: expect.stringContaining(":"), _version: expect.any(String) });
    expect(JSON.parse(created.definition as string)).toMatchObject({ id: "approval", states: { pending: expect.any(Object) } });
    expect(events.some((e) => e.type === "@xstate.event" && (e.event as { type: string }).type === "APPROVE")).toBe(true);
    expect(events.map((e) => (e.type === "@xstate.snapshot" ? (e.snapshot as { value: unknown }).value : null)).filter(Boolean)).toEqual(
      expect.arrayContaining(["pending", "approved"]),
    );
  });

  it("keeps secrets out of what it shows", async () => {
    const { source, server } = await served();
    const machine = createMachine({
      id: "holder",
      context: {
        job: { argv: ["env"], env: { API_TOKEN: "hunter2-env-value" } },
        apiKey: "sk-live-123",
        note: "x".repeat(5000),
        // As an MCP connection holds them: a server's config, and the live session object.
        server: { command: "srv", args: ["--token", "ghp-arg-secret"], headers: { "X-Api": "header-secret" } },
        credentials: { user: "u", pass: "nested-secret" },
        session: new (class McpSessionLike {
          key = "instance-secret";
        })(),
      },
      initial: "a",
      states: { a: { on: { GO: { target: "b", actions: assign({ apiKey: "sk-live-456" }) } } }, b: {} },
    });
    const actor = createActor(machine, { inspect: source.inspect });
    cleanup.push(() => actor.stop());
    actor.start();
    actor.send({ type: "GO", password: "pw-in-event" });
    const t = tab(server);
    await t.until((m): m is Extract<UiMessage, { type: "state" }> => m.type === "state");
    const receiver = new WebSocket(`ws://127.0.0.1:${server.port}/ws/stately?token=${server.token}`);
    cleanup.push(() => receiver.terminate());
    const stately: string[] = [];
    receiver.on("message", (d) => stately.push(d.toString()));
    await new Promise((r) => setTimeout(r, 300));
    const all = JSON.stringify(t.messages) + stately.join("\n") + (await get(`http://127.0.0.1:${server.port}/api/state?token=${server.token}`)).body;
    for (const secret of ["hunter2-env-value", "sk-live-123", "sk-live-456", "ghp-arg-secret", "header-secret", "nested-secret", "instance-secret"]) {
      expect(all).not.toContain(secret);
    }
    expect(all).toContain("API_TOKEN"); // the name stays: it says what the command gets
    expect(all).toContain("X-Api");
    expect(all).toContain("[McpSessionLike]");
    expect(all).not.toContain("x".repeat(1000));
  });

  it("shows a process that reports from elsewhere, and marks its actors stopped when it goes", async () => {
    const hub = createInspectorHub();
    const server = await startInspectorServer(hub);
    cleanup.push(() => server.close());
    const source = createInspectionSource({ pid: 4242, command: "run", cwd: "/project" });
    const { actor, ran } = approvalActor(source);
    actor.start();
    const link = await linkToInspector(source, server);
    const t = tab(server);
    // The tab sees the reporting process's pending approval, whether in its first state or just after.
    await t.until((m): m is UiMessage => (m.type === "state" && m.actors.some((a) => a.actor.approval !== null)) || (m.type === "actor" && m.actor.approval !== null));
    const state = hub.state();
    expect(state.processes).toEqual([expect.objectContaining({ pid: 4242, command: "run", cwd: "/project", connected: true })]);
    const { process, actor: view } = state.actors[0]!;
    // An answer crosses both sockets to the approval actor in the reporting process.
    const result = await hub.answer({ type: "approve", requestId: "x1", process, actorId: view.id, actionHash: approvalInput.actionHash });
    expect(result.ok).toBe(true);
    await expect.poll(() => ran).toEqual([approvalInput.actionHash]);
    const pending = createActor(approvalRequestMachine, { input: { ...approvalInput, id: "a2" }, inspect: source.inspect });
    pending.start();
    cleanup.push(() => pending.stop());
    await expect.poll(() => hub.state().actors.filter((a) => a.actor.status === "active").length).toBe(1);
    await link.close();
    await expect.poll(() => hub.state().processes[0]?.connected).toBe(false);
    expect(hub.state().actors.every((a) => a.actor.endedAt !== null && a.actor.approval === null)).toBe(true);
    expect((await hub.answer({ type: "deny", requestId: "x2", process, actorId: view.id })).message).toMatch(/ended/);
  });

  it("refuses a request id already waiting, without losing the first answer", async () => {
    const hub = createInspectorHub();
    const delivered: string[] = [];
    const source = hub.attachSource((a) => delivered.push(a.requestId));
    const first = hub.answer({ type: "deny", requestId: "same", process: source.processId, actorId: "a" });
    const second = await hub.answer({ type: "deny", requestId: "same", process: source.processId, actorId: "a" });
    expect(second).toMatchObject({ ok: false, message: expect.stringMatching(/already in use/) });
    source.receive({ type: "answer.result", requestId: "same", ok: true, message: "denied" });
    expect(await first).toMatchObject({ ok: true, message: "denied" });
    expect(delivered).toEqual(["same"]);
  });
});
