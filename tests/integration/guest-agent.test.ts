// The guest agent program itself, on the host's Node, outside any sandbox: the parts of its
// protocol that a sandbox test cannot reach directly.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { encodeFrame, FrameDecoder } from "../../guest-agent/framing.ts";
import { guestAgentPath } from "../../src/paths.ts";

describe("guest agent", () => {
  it("answers resume with a fresh hello, and exits 75 when the host goes away (0 only when asked to shut down)", async () => {
    const agent = spawn(process.execPath, [guestAgentPath()], { stdio: ["pipe", "pipe", "inherit"] });
    const frames: Array<{ type: string }> = [];
    const decoder = new FrameDecoder();
    agent.stdout.on("data", (b: Buffer) => decoder.push(b).forEach((f) => f.ok && frames.push(f.json as never)));
    const until = async (n: number) => {
      for (let i = 0; i < 200 && frames.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(1);
    expect(frames[0]).toMatchObject({ type: "hello", protocol: 1 });
    // Outside a VM the clock and entropy steps cannot take effect; the answer must come all the same.
    agent.stdin.write(encodeFrame({ type: "resume", id: "r1", nowMs: Date.now(), entropy: Buffer.alloc(8).toString("base64") }));
    await until(2);
    expect(frames[1]).toMatchObject({ type: "hello", protocol: 1 });
    const code = new Promise<number | null>((resolve) => agent.once("exit", resolve));
    agent.stdin.end();
    expect(await code).toBe(75);
  });

  it("exits 0 after a shutdown request", async () => {
    const agent = spawn(process.execPath, [guestAgentPath()], { stdio: ["pipe", "pipe", "inherit"] });
    agent.stdout.resume();
    agent.stdin.write(encodeFrame({ type: "shutdown", id: "s1" }));
    expect(await new Promise((resolve) => agent.once("exit", resolve))).toBe(0);
  });
});
