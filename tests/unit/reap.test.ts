// What the runtime reaps when an actor ends without its own teardown (crashed, or stopped by
// force): the sandboxes its last context names, whichever way it came to hold them.
import { describe, expect, it } from "vitest";
import { sandboxesHeld } from "../../src/runtime.ts";

const sandbox = (id: string) => ({ record: { id } });

describe("sandboxesHeld", () => {
  it("names a vm's own sandbox, booted or still provisioning", () => {
    expect(sandboxesHeld({ type: "child.reap", actorId: "x1", src: "vm", context: { id: "x1", record: null, sandbox: null } })).toEqual(["x1"]);
    expect(sandboxesHeld({ type: "child.reap", actorId: "x1-r1", src: "vm", context: { id: "x1-r1", record: { id: "x1-r1" }, sandbox: null } })).toEqual(["x1-r1"]);
  });

  it("names the leased sandbox a vm adopted from a slot, not just the vm's id", () => {
    const held = sandboxesHeld({ type: "child.reap", actorId: "x2", src: "vm", context: { id: "x2", record: null, sandbox: sandbox("slot-a-g4") } });
    expect(held.sort()).toEqual(["slot-a-g4", "x2"]);
  });

  it("names a slot's current generation, which is not the slot actor's id", () => {
    expect(sandboxesHeld({ type: "child.reap", actorId: "slot-a", src: "slot", context: { id: "slot-a", generation: 3, sandbox: null } })).toEqual(["slot-a-g3"]);
  });

  it("names the sandbox of a sandboxed MCP server's live session, and nothing for an unsandboxed one", () => {
    const session = (id: string | null) => ({ sandboxId: () => id });
    expect(sandboxesHeld({ type: "child.reap", actorId: "files", src: "mcp", context: { id: "files", session: session("mcp-files-a1") } })).toEqual(["mcp-files-a1"]);
    expect(sandboxesHeld({ type: "child.reap", actorId: "files", src: "mcp", context: { id: "files", session: session(null) } })).toEqual([]);
    expect(sandboxesHeld({ type: "child.reap", actorId: "files", src: "mcp", context: { id: "files", session: null } })).toEqual([]);
  });

  it("names nothing for an actor that never got a context", () => {
    expect(sandboxesHeld({ type: "child.reap", actorId: "gone", src: "vm", context: null })).toEqual([]);
  });
});
