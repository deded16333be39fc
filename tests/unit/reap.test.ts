// What the runtime reaps when an actor ends without its own teardown (crashed, or stopped by
// force): the sandboxes its last context names, whichever way it came to hold them. Each context
// is the real machine's, as its actor left it.
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { sandboxesHeld } from "../../src/runtime.ts";
import { vmMachine, type SandboxHandle } from "../../machines/vm.machine.ts";
import { snapshotSlotMachine } from "../../machines/snapshot-slot.machine.ts";
import { mcpConnectionMachine } from "../../machines/mcp-connection.machine.ts";
import { agentSessionMachine } from "../../machines/agent-session.machine.ts";
import { sessionHandle } from "../../actors/mcp/session-handle.ts";
import type { McpSession } from "../../actors/mcp/mcp-session.ts";

const limits = { memoryMiB: 64, pidsMax: 16 };
const vmContext = (id: string, adopted?: string) =>
  createActor(vmMachine, {
    input: { id, backend: "namespace", limits, ...(adopted && { sandbox: { handle: {} as SandboxHandle, id: adopted, isolation: "stand-in" } }) },
  }).getSnapshot().context;
const mcpContext = (sandboxId: string | null) => {
  const context = createActor(mcpConnectionMachine, { input: { id: "files", server: "files" } }).getSnapshot().context;
  return { ...context, session: sessionHandle({ sandboxId: () => sandboxId } as McpSession) };
};

describe("sandboxesHeld", () => {
  it("names a vm's own sandbox, booted or still provisioning", () => {
    expect(sandboxesHeld({ type: "child.reap", actorId: "x1", src: "vm", context: vmContext("x1") })).toEqual(["x1"]);
  });

  it("names the leased sandbox a vm adopted from a slot, not just the vm's id", () => {
    const held = sandboxesHeld({ type: "child.reap", actorId: "x2", src: "vm", context: vmContext("x2", "slot-a-g4") });
    expect(held.sort()).toEqual(["slot-a-g4", "x2"]);
  });

  it("names a slot's current generation, which is not the slot actor's id", () => {
    const context = createActor(snapshotSlotMachine, { input: { id: "slot-a", backend: "namespace", limits, refreshMs: 1000 } }).getSnapshot().context;
    expect(sandboxesHeld({ type: "child.reap", actorId: "slot-a", src: "slot", context: { ...context, generation: 3 } })).toEqual(["slot-a-g3"]);
  });

  it("names a session's vm, named after the session", () => {
    const context = createActor(agentSessionMachine, { input: { id: "s1", task: "t", system: "", sandbox: { backend: "namespace", limits }, interactive: false } }).getSnapshot()
      .context;
    expect(sandboxesHeld({ type: "child.reap", actorId: "s1", src: "session", context })).toEqual(["s1-sandbox"]);
  });

  it("names the sandbox of a sandboxed MCP server's live session, and nothing for an unsandboxed one", () => {
    expect(sandboxesHeld({ type: "child.reap", actorId: "files", src: "mcp", context: mcpContext("mcp-files-a1") })).toEqual(["mcp-files-a1"]);
    expect(sandboxesHeld({ type: "child.reap", actorId: "files", src: "mcp", context: mcpContext(null) })).toEqual([]);
    expect(sandboxesHeld({ type: "child.reap", actorId: "files", src: "mcp", context: { ...mcpContext(null), session: null } })).toEqual([]);
  });

  it("names nothing for an actor that never got a context", () => {
    expect(sandboxesHeld({ type: "child.reap", actorId: "gone", src: "vm", context: null })).toEqual([]);
  });
});
