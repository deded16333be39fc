// Length-prefixed framing: a 4-byte big-endian byte count, then that many bytes of UTF-8 JSON.
// A length prefix cannot resynchronise after corruption, so an oversized or truncated frame
// poisons the stream (fatal) while a well-framed but unparsable body only loses itself.
import { MAX_FRAME_BYTES } from "./guest-protocol.ts";

const HEADER_BYTES = 4;

export type Frame = { readonly ok: true; readonly json: unknown } | { readonly ok: false; readonly fatal: boolean; readonly error: string };

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  if (body.length > MAX_FRAME_BYTES) {
    throw new RangeError(`frame of ${body.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
  }
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

export class FrameDecoder {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private poisoned = false;

  private readonly maxFrameBytes: number;

  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Feeds bytes in; returns every complete frame they finish. */
  push(chunk: Buffer): Frame[] {
    if (this.poisoned) return [];
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    const frames: Frame[] = [];
    while (this.bufferedBytes >= HEADER_BYTES) {
      const head = this.peek(HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrameBytes) {
        this.poisoned = true;
        this.buffered = [];
        this.bufferedBytes = 0;
        frames.push({
          ok: false,
          fatal: true,
          error: `frame of ${length} bytes exceeds the ${this.maxFrameBytes}-byte limit (peer is not speaking the IronClaw guest protocol)`,
        });
        break;
      }
      if (this.bufferedBytes < HEADER_BYTES + length) break;
      const body = this.take(HEADER_BYTES + length).subarray(HEADER_BYTES);
      try {
        frames.push({ ok: true, json: JSON.parse(body.toString("utf8")) });
      } catch (cause) {
        frames.push({ ok: false, fatal: false, error: `frame is not JSON: ${(cause as Error).message}` });
      }
    }
    return frames;
  }

  /** Bytes of an unfinished frame at end of stream mean the peer died mid-message. */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  private peek(n: number): Buffer {
    const first = this.buffered[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.buffered);
    this.buffered = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const joined = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    const frame = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return frame;
  }
}
