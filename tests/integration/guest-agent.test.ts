// The guest agent program itself, on the host's Node, outside any sandbox: the parts of its
// protocol that a sandbox test cannot reach directly.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { encodeFrame, FrameDecoder } from "../../guest-agent/framing.ts";
import { PROTOCOL_VERSION } from "../../guest-agent/guest-protocol.ts";
import { guestAgentPath } from "../../core/paths.ts";

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
    expect(frames[0]).toMatchObject({ type: "hello", protocol: PROTOCOL_VERSION });
    // Outside a VM the clock and entropy steps cannot take effect; the answer must come all the same.
    agent.stdin.write(encodeFrame({ type: "resume", id: "r1", nowMs: Date.now(), entropy: Buffer.alloc(8).toString("base64") }));
    await until(2);
    expect(frames[1]).toMatchObject({ type: "hello", protocol: PROTOCOL_VERSION });
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

  it("runs an interactive exec: stdin stays open, each write is acknowledged, output streams back, eof ends it", async () => {
    const agent = spawn(process.execPath, [guestAgentPath()], { stdio: ["pipe", "pipe", "inherit"] });
    const frames: Array<{ type: string; id?: string | null; code?: unknown; stream?: string; data?: string; outputBytes?: number }> = [];
    const decoder = new FrameDecoder();
    agent.stdout.on("data", (b: Buffer) => decoder.push(b).forEach((f) => f.ok && frames.push(f.json as never)));
    const reply = async (id: string) => {
      for (let i = 0; i < 300; i++) {
        const found = frames.find((f) => f.id === id && f.type !== "output");
        if (found) return found;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no reply to ${id}`);
    };
    const stdout = (id: string) =>
      Buffer.concat(frames.filter((f) => f.type === "output" && f.id === id && f.stream === "stdout").map((f) => Buffer.from(f.data!, "base64"))).toString();
    const send = (m: object) => agent.stdin.write(encodeFrame(m));
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    try {
      // A line-echoing server: answers each line as it comes, so output before eof proves stdin stayed open.
      const echo =
        "process.stdin.setEncoding('utf8'); let buf = ''; process.stdin.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { console.log('got ' + buf.slice(0, i)); buf = buf.slice(i + 1); } });";
      send({ type: "exec", id: "srv", argv: [process.execPath, "-e", echo], interactive: true, stdin: b64("first\n") });
      send({ type: "stdin", id: "w1", target: "srv", data: b64("second\n") });
      expect(await reply("w1")).toMatchObject({ type: "ok" });
      for (let i = 0; i < 300 && !stdout("srv").includes("got second"); i++) await new Promise((r) => setTimeout(r, 10));
      expect(stdout("srv")).toBe("got first\ngot second\n");

      // stdin for what is not a running interactive exec, or after its eof, is refused with a code.
      send({ type: "exec", id: "once", argv: ["sleep", "5"] });
      send({ type: "stdin", id: "w2", target: "once", data: b64("x") });
      expect(await reply("w2")).toMatchObject({ type: "error", code: "EPROTO", message: expect.stringMatching(/not started interactive/) });
      send({ type: "cancel", id: "c1", target: "once" });
      send({ type: "stdin", id: "w3", target: "nobody", data: b64("x") });
      expect(await reply("w3")).toMatchObject({ type: "error", code: "ESRCH" });

      send({ type: "stdin", id: "w4", target: "srv", data: b64("last\n"), eof: true });
      expect(await reply("w4")).toMatchObject({ type: "ok" });
      send({ type: "stdin", id: "w5", target: "srv", data: b64("late\n") });
      const late = await reply("w5");
      expect(late).toMatchObject({ type: "error" });
      expect(["EPIPE", "ESRCH"]).toContain(late.code); // refused whether or not the server has exited yet
      expect(await reply("srv")).toMatchObject({ type: "exit", code: 0, truncated: false });
      expect(stdout("srv")).toBe("got first\ngot second\ngot last\n");
    } finally {
      agent.kill("SIGKILL");
    }
  });

  it("gives an interactive exec no output cap unless it asks for one", async () => {
    const agent = spawn(process.execPath, [guestAgentPath()], { stdio: ["pipe", "pipe", "inherit"] });
    const decoder = new FrameDecoder();
    const exits: Array<{ id: string; truncated: boolean; outputBytes: number }> = [];
    agent.stdout.on("data", (b: Buffer) => decoder.push(b).forEach((f) => f.ok && (f.json as { type: string }).type === "exit" && exits.push(f.json as never)));
    try {
      // 20 MiB, past the 16 MiB default cap of a one-shot exec.
      const argv = ["head", "-c", String(20 * 1024 * 1024), "/dev/zero"];
      agent.stdin.write(encodeFrame({ type: "exec", id: "open", argv, interactive: true }));
      agent.stdin.write(encodeFrame({ type: "exec", id: "capped", argv, interactive: true, outputCapBytes: 1000 }));
      agent.stdin.write(encodeFrame({ type: "exec", id: "oneshot", argv }));
      for (let i = 0; i < 1000 && exits.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
      const byId = Object.fromEntries(exits.map((e) => [e.id, e]));
      expect(byId.open).toMatchObject({ truncated: false, outputBytes: 20 * 1024 * 1024 });
      expect(byId.capped).toMatchObject({ truncated: true, outputBytes: 1000 });
      expect(byId.oneshot).toMatchObject({ truncated: true, outputBytes: 16 * 1024 * 1024 });
    } finally {
      agent.kill("SIGKILL");
    }
  });
});
