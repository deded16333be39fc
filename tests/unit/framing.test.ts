import { describe, expect, it } from "vitest";
import { encodeFrame, FrameDecoder } from "../../guest-agent/framing.ts";
import { decodeGuestMessage, decodeHostMessage, MAX_FRAME_BYTES } from "../../guest-agent/guest-protocol.ts";

describe("framing", () => {
  it("round-trips messages split at every byte boundary", () => {
    const messages = [
      { type: "ok", id: "a" },
      { type: "output", id: "b", stream: "stdout", data: "aGk=" },
    ];
    const bytes = Buffer.concat(messages.map(encodeFrame));
    for (let cut = 0; cut <= bytes.length; cut++) {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))];
      expect(frames).toEqual(messages.map((json) => ({ ok: true, json })));
      expect(decoder.pendingBytes).toBe(0);
    }
  });

  it("treats an oversized length prefix as fatal and stops decoding", () => {
    const decoder = new FrameDecoder(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(4096);
    const frames = decoder.push(Buffer.concat([header, encodeFrame({ type: "ok", id: "x" })]));
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ ok: false, fatal: true });
    expect(decoder.push(encodeFrame({ type: "ok", id: "y" }))).toEqual([]);
  });

  it("skips a well-framed body that is not JSON and keeps going", () => {
    const body = Buffer.from("{not json");
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    const frames = new FrameDecoder().push(Buffer.concat([header, body, encodeFrame({ type: "ok", id: "z" })]));
    expect(frames[0]).toMatchObject({ ok: false, fatal: false });
    expect(frames[1]).toEqual({ ok: true, json: { type: "ok", id: "z" } });
  });

  it("refuses to encode a frame over the limit", () => {
    expect(() => encodeFrame({ data: "x".repeat(MAX_FRAME_BYTES) })).toThrow(/exceeds/);
  });
});

describe("guest protocol schemas", () => {
  it("accepts a full exec request and rejects one without argv", () => {
    const ok = decodeHostMessage({ type: "exec", id: "1", argv: ["sh", "-c", "true"], env: { A: "b" }, timeoutMs: 5 });
    expect(ok.ok).toBe(true);
    const bad = decodeHostMessage({ type: "exec", id: "1", argv: [] });
    expect(bad).toMatchObject({ ok: false });
    expect(!bad.ok && bad.error).toMatch(/argv/);
  });

  it("accepts an interactive exec and stdin for it (bytes, end of file, or both) and rejects malformed ones", () => {
    expect(decodeHostMessage({ type: "exec", id: "1", argv: ["node", "server.js"], interactive: true }).ok).toBe(true);
    expect(decodeHostMessage({ type: "exec", id: "1", argv: ["node"], interactive: "yes" })).toMatchObject({ ok: false });
    for (const ok of [
      { type: "stdin", id: "2", target: "1", data: Buffer.from("{}\n").toString("base64") },
      { type: "stdin", id: "2", target: "1", eof: true },
      { type: "stdin", id: "2", target: "1", data: "", eof: true },
    ]) {
      expect(decodeHostMessage(ok)).toMatchObject({ ok: true, value: ok });
    }
    const noTarget = decodeHostMessage({ type: "stdin", id: "2", data: "" });
    expect(!noTarget.ok && noTarget.error).toMatch(/target/);
    expect(decodeHostMessage({ type: "stdin", id: "2", target: "", data: "" })).toMatchObject({ ok: false });
    expect(decodeHostMessage({ type: "stdin", id: "2", target: "1", data: 7 })).toMatchObject({ ok: false });
    expect(decodeHostMessage({ type: "stdin", id: "2", target: "1", eof: "true" })).toMatchObject({ ok: false });
  });

  it("rejects unknown message types and wrong field types from the guest", () => {
    expect(decodeGuestMessage({ type: "launch-missiles", id: "1" }).ok).toBe(false);
    expect(decodeGuestMessage({ type: "exit", id: "1", code: "zero" }).ok).toBe(false);
    expect(decodeGuestMessage({ type: "exit", id: "1", code: 0, signal: null, timedOut: false, truncated: false, outputBytes: 0, durationMs: 1 }).ok).toBe(true);
  });
});
