// The host end of the protocol against a scripted peer: a guest that lies, babbles or dies
// must produce a clear error and never an exception in the host.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { encodeFrame, FrameDecoder } from "../../guest-agent/framing.ts";
import { GuestChannel } from "../../actors/guest/guest-channel.ts";
import { PROTOCOL_VERSION, STDIN_CHUNK_BYTES } from "../../guest-agent/guest-protocol.ts";
import { GuestError } from "../../core/errors.ts";

function peer() {
  const fromGuest = new PassThrough();
  const toGuest = new PassThrough();
  const channel = new GuestChannel(fromGuest, toGuest);
  const requests: Array<{ type: string; id: string; target?: string; data?: string; eof?: boolean; interactive?: boolean }> = [];
  const decoder = new FrameDecoder();
  toGuest.on("data", (b: Buffer) => decoder.push(b).forEach((f) => f.ok && requests.push(f.json as never)));
  return { fromGuest, channel, requests, hello: () => fromGuest.write(encodeFrame({ type: "hello", protocol: PROTOCOL_VERSION, agent: "t", pid: 1, kernel: "k" })) };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("guest channel", () => {
  it("streams output to the caller and resolves with the exit", async () => {
    const p = peer();
    p.hello();
    await p.channel.hello;
    const chunks: string[] = [];
    const result = p.channel.exec({ argv: ["x"] }, (stream, data) => chunks.push(`${stream}:${data}`));
    await tick();
    const id = p.requests[0]!.id;
    p.fromGuest.write(encodeFrame({ type: "output", id, stream: "stdout", data: Buffer.from("a").toString("base64") }));
    p.fromGuest.write(encodeFrame({ type: "exit", id, code: 3, signal: null, timedOut: false, truncated: false, outputBytes: 1, durationMs: 1 }));
    expect(await result).toMatchObject({ code: 3 });
    expect(chunks).toEqual(["stdout:a"]);
  });

  it("passes a job and its output through in wire form: stdin and output stay base64, the exit comes without its envelope", async () => {
    const p = peer();
    p.hello();
    await p.channel.hello;
    const chunks: string[] = [];
    const stdin = Buffer.from("in\0put").toString("base64");
    const result = p.channel.execEncoded({ argv: ["x"], stdin, timeoutMs: 1000, outputCapBytes: 5 }, (stream, data) => chunks.push(`${stream}:${data}`));
    await tick();
    expect(p.requests[0]).toMatchObject({ type: "exec", argv: ["x"], stdin, timeoutMs: 1000, outputCapBytes: 5 });
    const id = p.requests[0]!.id;
    p.fromGuest.write(encodeFrame({ type: "output", id, stream: "stdout", data: Buffer.from("abc").toString("base64") }));
    // Past the cap of 5: the chunk that crosses it is cut at the byte, still in base64.
    p.fromGuest.write(encodeFrame({ type: "output", id, stream: "stderr", data: Buffer.from("defg").toString("base64") }));
    p.fromGuest.write(encodeFrame({ type: "exit", id, code: 0, signal: null, timedOut: false, truncated: false, outputBytes: 7, durationMs: 1 }));
    expect(await result).toEqual({ code: 0, signal: null, timedOut: false, truncated: true, outputBytes: 5, durationMs: 1 });
    expect(chunks).toEqual([`stdout:${Buffer.from("abc").toString("base64")}`, `stderr:${Buffer.from("de").toString("base64")}`]);
  });

  it("holds a guest that ignores the output cap to it: passes nothing past the cap and cancels the command", async () => {
    const p = peer();
    p.hello();
    await p.channel.hello;
    let received = 0;
    const result = p.channel.exec({ argv: ["yes"], outputCapBytes: 10 }, (_stream, data) => (received += data.length));
    await tick();
    const id = p.requests[0]!.id;
    const chunk = Buffer.alloc(4, "y").toString("base64");
    for (let i = 0; i < 6; i++) p.fromGuest.write(encodeFrame({ type: "output", id, stream: "stdout", data: chunk }));
    await tick();
    expect(received).toBe(10);
    expect(p.requests.filter((r) => r.type === "cancel")).toEqual([expect.objectContaining({ type: "cancel", target: id })]);
    // The lying guest even claims it sent little and did not truncate.
    p.fromGuest.write(encodeFrame({ type: "exit", id, code: 0, signal: null, timedOut: false, truncated: false, outputBytes: 24, durationMs: 1 }));
    expect(await result).toMatchObject({ truncated: true, outputBytes: 10 });
  });

  it("refuses a guest that speaks another protocol version", async () => {
    const p = peer();
    p.fromGuest.write(encodeFrame({ type: "hello", protocol: 99, agent: "t", pid: 1, kernel: "k" }));
    await expect(p.channel.hello).rejects.toThrow(/protocol 99.*rebuild the guest image/);
  });

  it("fails in-flight calls with a clear error when the guest sends garbage", async () => {
    const p = peer();
    p.hello();
    await p.channel.hello;
    const call = p.channel.stat("/");
    p.fromGuest.write(Buffer.from("this is not a frame at all, it is a log line\n"));
    await expect(call).rejects.toMatchObject({ code: "EPROTO", message: expect.stringMatching(/exceeds .* limit/) });
    expect(p.channel.closed).toBe(true);
  });

  it("fails in-flight calls when a frame does not match the schema", async () => {
    const p = peer();
    p.hello();
    await p.channel.hello;
    const call = p.channel.list("/");
    await tick();
    p.fromGuest.write(encodeFrame({ type: "entries", id: p.requests[0]!.id, entries: "many" }));
    await expect(call).rejects.toMatchObject({ code: "EPROTO", message: expect.stringMatching(/invalid message/) });
  });

  it("fails in-flight calls when the guest goes away", async () => {
    const p = peer();
    p.hello();
    await p.channel.hello;
    const call = p.channel.readFile("/etc/hostname");
    p.fromGuest.end();
    const err = await call.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GuestError);
    expect(err).toMatchObject({ code: "EPIPE" });
    await expect(p.channel.stat("/")).rejects.toMatchObject({ code: "EPIPE" });
  });

  it("resumes a guest restored mid-session: asks it to resume first, then takes its hello", async () => {
    const fromGuest = new PassThrough();
    const toGuest = new PassThrough();
    const sent: Array<{ type: string; nowMs?: number; entropy?: string }> = [];
    const decoder = new FrameDecoder();
    toGuest.on("data", (b: Buffer) => decoder.push(b).forEach((f) => f.ok && sent.push(f.json as never)));
    const before = Date.now();
    const channel = new GuestChannel(fromGuest, toGuest, { resume: true });
    await tick();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ type: "resume" });
    expect(sent[0]!.nowMs).toBeGreaterThanOrEqual(before);
    expect(Buffer.from(sent[0]!.entropy!, "base64")).toHaveLength(64);
    fromGuest.write(encodeFrame({ type: "hello", protocol: PROTOCOL_VERSION, agent: "t", pid: 1, kernel: "k" }));
    expect((await channel.hello).kernel).toBe("k");
  });

  it("runs an interactive exec: stdin streamed in acknowledged chunks, eof, output without a cap, the exit", async () => {
    const p = peer();
    p.hello();
    await p.channel.hello;
    let received = 0;
    const proc = p.channel.execInteractive({ argv: ["server"] }, (_stream, data) => (received += data.length));
    await tick();
    const exec = p.requests[0]!;
    expect(exec).toMatchObject({ type: "exec", argv: ["server"], interactive: true });
    expect(exec).not.toHaveProperty("outputCapBytes");
    expect(exec).not.toHaveProperty("stdin");

    // Two and a half chunks' worth: three stdin requests, in order, the write settled by all three answers.
    const big = Buffer.alloc(STDIN_CHUNK_BYTES * 2 + 10, "x");
    let written = false;
    const write = proc.write(big).then(() => (written = true));
    await tick();
    const chunks = p.requests.filter((r) => r.type === "stdin");
    expect(chunks.map((c) => [c.target, Buffer.from(c.data!, "base64").length, c.eof])).toEqual([
      [exec.id, STDIN_CHUNK_BYTES, undefined],
      [exec.id, STDIN_CHUNK_BYTES, undefined],
      [exec.id, 10, undefined],
    ]);
    for (const c of chunks.slice(0, 2)) p.fromGuest.write(encodeFrame({ type: "ok", id: c.id }));
    await tick();
    expect(written).toBe(false);
    p.fromGuest.write(encodeFrame({ type: "ok", id: chunks[2]!.id }));
    await write;

    // Far past the default cap of a one-shot exec: an interactive one passes it all on.
    const chunk = Buffer.alloc(64 * 1024, "o").toString("base64");
    for (let i = 0; i < 300; i++) p.fromGuest.write(encodeFrame({ type: "output", id: exec.id, stream: "stdout", data: chunk }));
    await tick();
    expect(received).toBe(300 * 64 * 1024);
    expect(p.requests.some((r) => r.type === "cancel")).toBe(false);

    const end = proc.end();
    await tick();
    const eof = p.requests.at(-1)!;
    expect(eof).toMatchObject({ type: "stdin", target: exec.id, eof: true });
    expect(eof).not.toHaveProperty("data");
    p.fromGuest.write(encodeFrame({ type: "ok", id: eof.id }));
    await end;
    p.fromGuest.write(encodeFrame({ type: "exit", id: exec.id, code: 0, signal: null, timedOut: false, truncated: false, outputBytes: received, durationMs: 5 }));
    expect(await proc.exit).toMatchObject({ code: 0, truncated: false });
    proc.cancel(); // after the exit: nothing to cancel, nothing sent
    await tick();
    expect(p.requests.some((r) => r.type === "cancel")).toBe(false);
  });

  it("rejects a write the guest refuses, cancels on request, and fails everything when the guest goes away", async () => {
    const p = peer();
    p.hello();
    await p.channel.hello;
    const proc = p.channel.execInteractive({ argv: ["server"] }, () => {});
    const exit = proc.exit.catch((e: unknown) => e);
    const refused = proc.write(Buffer.from("{}\n"));
    await tick();
    p.fromGuest.write(encodeFrame({ type: "error", id: p.requests[1]!.id, code: "EPIPE", message: "stdin of exec x is already closed" }));
    await expect(refused).rejects.toMatchObject({ code: "EPIPE" });
    proc.cancel();
    await tick();
    expect(p.requests.at(-1)).toMatchObject({ type: "cancel", target: p.requests[0]!.id });
    const pending = proc.write(Buffer.from("more\n"));
    p.fromGuest.end();
    await expect(pending).rejects.toMatchObject({ code: "EPIPE" });
    expect(await exit).toMatchObject({ code: "EPIPE" });
    await expect(proc.write(Buffer.from("x"))).rejects.toMatchObject({ code: "EPIPE" });
  });
});
