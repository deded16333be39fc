// Ids several modules agree on: what one builds, another reads back.
import { describe, expect, it } from "vitest";
import { mcpChildId, mcpServerOfChild, poolSlotId, sessionSandboxId, slotSandboxId } from "../../core/ids.ts";

describe("shared ids", () => {
  it("read an MCP child's server back from its id, and nothing from another child's", () => {
    expect(mcpServerOfChild(mcpChildId("files.v2"))).toBe("files.v2");
    expect(mcpServerOfChild(sessionSandboxId("s1"))).toBeNull();
  });

  it("name each refill of a slot apart", () => {
    expect(slotSandboxId(poolSlotId("namespace", 1), 3)).not.toBe(slotSandboxId(poolSlotId("namespace", 1), 4));
  });
});
