// The host end of the guest protocol over any byte stream pair (a sandbox's stdio today,
// a virtio-serial socket or vsock for VMs). It multiplexes requests by id, validates every
// frame the guest sends, and fails whatever is in flight with a clear error if the guest
// dies or breaks protocol — a misbehaving guest never throws into the host.
import type { Readable, Writable } from "node:stream";
import { randomBytes } from "node:crypto";
import { nanoid } from "nanoid";
import { encodeFrame, FrameDecoder } from "../../guest-agent/framing.ts";
import type { ExecExit, Stream } from "../../core/exec.ts";
import {
  DEFAULT_OUTPUT_CAP_BYTES,
  decodeGuestMessage,
  type ExecRequest,
  type FileEntry,
  type GuestMessage,
  type Hello,
  type HostMessage,
  PROTOCOL_VERSION,
  STDIN_CHUNK_BYTES,
} from "../../guest-agent/guest-protocol.ts";
import { GuestError } from "../../core/errors.ts";

/** A job as the guest takes it (core/exec.ts ExecJob; stdin in base64), its deadline optional. */
export type ExecOptions = Omit<ExecRequest, "type" | "id" | "interactive">;
export type OutputListener = (stream: Stream, data: Buffer) => void;
/** Output as it came off the wire, in base64: for a consumer that passes it on rather than reading it. */
export type EncodedOutputListener = (stream: Stream, data: string) => void;

const decoding =
  (onOutput: OutputListener | undefined): EncodedOutputListener | undefined =>
  (stream, data) =>
    onOutput?.(stream, Buffer.from(data, "base64"));

/**
 * A command running with its stdin open (a server spoken to over its stdio). Its output goes
 * to the listener given when it started; it has no output cap unless `outputCapBytes` was set.
 */
export interface InteractiveExec {
  /** Resolves once the agent has put the bytes into the command's stdin pipe; rejects if it could not. */
  write(data: Buffer): Promise<void>;
  /** Closes the command's stdin (end of file); resolves once the agent has. */
  end(): Promise<void>;
  /** Resolves with the exit; rejects when the command could not start or the channel closed. */
  readonly exit: Promise<ExecExit>;
  /** SIGKILLs the command's process group (nothing if it has already exited). */
  cancel(): void;
}

interface Pending {
  readonly resolve: (m: GuestMessage) => void;
  readonly reject: (e: Error) => void;
  readonly onOutput?: EncodedOutputListener;
}

const execRequest = (id: string, options: ExecOptions, interactive: boolean): ExecRequest => ({ ...options, type: "exec", id, ...(interactive && { interactive: true }) });

export class GuestChannel {
  private readonly pending = new Map<string, Pending>();
  private readonly decoder = new FrameDecoder();
  private closedWith: GuestError | undefined;
  private readonly closeListeners = new Set<(reason: GuestError) => void>();
  readonly hello: Promise<Hello>;

  private readonly output: Writable;

  /**
   * `resume`: the guest is a VM restored from a snapshot, its agent mid-session; instead of
   * waiting for it to say hello, ask it to resume (set its clock, take fresh entropy) and say hello.
   */
  constructor(input: Readable, output: Writable, options: { resume?: boolean } = {}) {
    this.output = output;
    let gotHello: (h: Hello) => void;
    let noHello: (e: Error) => void;
    this.hello = new Promise<Hello>((res, rej) => ((gotHello = res), (noHello = rej)));
    this.hello.catch(() => {}); // observed through close() too; never an unhandled rejection
    let greeted = false;

    input.on("data", (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) {
        // A guest that sends a broken frame is a broken guest: nothing it says next can be trusted.
        if (!frame.ok) return this.close(new GuestError("EPROTO", `guest protocol error: ${frame.error}`));
        const decoded = decodeGuestMessage(frame.json);
        if (!decoded.ok) {
          this.close(new GuestError("EPROTO", `guest sent an invalid message: ${decoded.error}`));
          return;
        }
        const msg = decoded.value;
        if (!greeted) {
          if (msg.type !== "hello") return this.close(new GuestError("EPROTO", `guest spoke before saying hello (${msg.type})`));
          if (msg.protocol !== PROTOCOL_VERSION) {
            return this.close(new GuestError("EPROTO", `guest agent speaks protocol ${msg.protocol}, this host speaks ${PROTOCOL_VERSION}: rebuild the guest image`));
          }
          greeted = true;
          gotHello!(msg);
          continue;
        }
        this.dispatch(msg);
      }
    });
    // A stream handed over paused (the vsock handshake pauses it to keep the first frame) flows from here.
    input.resume();
    const ended = (why: string) => () => this.close(new GuestError("EPIPE", why));
    input.on("end", ended("guest agent closed its channel"));
    input.on("error", (e) => this.close(new GuestError("EPIPE", `guest channel failed: ${e.message}`)));
    output.on("error", (e) => this.close(new GuestError("EPIPE", `guest channel failed: ${e.message}`)));
    this.onClose((reason) => noHello!(reason));
    if (options.resume) {
      this.send({ type: "resume", id: nanoid(12), nowMs: Date.now(), entropy: randomBytes(64).toString("base64") });
    }
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Called once, with the reason, when the channel can carry no more messages. */
  onClose(listener: (reason: GuestError) => void): () => void {
    if (this.closedWith) {
      listener(this.closedWith);
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  close(reason: GuestError): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
    for (const l of this.closeListeners) l(reason);
    this.closeListeners.clear();
    this.output.end();
  }

  /** Runs a command to its end; `onOutput` gets its output decoded. */
  exec(options: ExecOptions, onOutput?: OutputListener, signal?: AbortSignal): Promise<ExecExit> {
    return this.execEncoded(options, decoding(onOutput), signal);
  }

  /** Runs a command to its end; `onOutput` gets its output as the guest sent it, in base64. */
  async execEncoded(options: ExecOptions, onOutput?: EncodedOutputListener, signal?: AbortSignal): Promise<ExecExit> {
    const id = nanoid(12);
    const request = execRequest(id, options, false);
    let cancelled = false;
    const cancel = () => {
      if (!this.closed && !cancelled) this.send({ type: "cancel", id: nanoid(12), target: id });
      cancelled = true;
    };
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      return await this.runExec(request, options.outputCapBytes ?? DEFAULT_OUTPUT_CAP_BYTES, cancel, onOutput);
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }

  /**
   * Starts a command whose stdin stays open: bytes go in with `write`, output comes out to
   * `onOutput` as it is made. No output cap unless `options.outputCapBytes` sets one.
   */
  execInteractive(options: Omit<ExecOptions, "stdin">, onOutput: OutputListener): InteractiveExec {
    const id = nanoid(12);
    let finished = false;
    let cancelled = false;
    const cancel = () => {
      if (!this.closed && !cancelled && !finished) this.send({ type: "cancel", id: nanoid(12), target: id });
      cancelled = true;
    };
    const exit = this.runExec(execRequest(id, options, true), options.outputCapBytes ?? Number.POSITIVE_INFINITY, cancel, decoding(onOutput));
    exit.then(
      () => (finished = true),
      () => (finished = true),
    );
    const stdin = async (data: Buffer | undefined, eof: boolean): Promise<void> => {
      const chunks: Buffer[] = [];
      for (let at = 0; data && at < data.length; at += STDIN_CHUNK_BYTES) chunks.push(data.subarray(at, at + STDIN_CHUNK_BYTES));
      // All chunks go at once (the agent writes them in order); each is acknowledged once in the pipe.
      const sent = chunks.map((chunk, i) =>
        this.call({ type: "stdin", id: nanoid(12), target: id, data: chunk.toString("base64"), ...(eof && i === chunks.length - 1 && { eof: true }) }),
      );
      if (eof && chunks.length === 0) sent.push(this.call({ type: "stdin", id: nanoid(12), target: id, eof: true }));
      await Promise.all(sent);
    };
    return {
      write: (data) => (data.length === 0 ? Promise.resolve() : stdin(data, false)),
      end: () => stdin(undefined, true),
      exit,
      cancel,
    };
  }

  private async runExec(request: ExecRequest, cap: number, cancel: () => void, onOutput?: EncodedOutputListener): Promise<ExecExit> {
    // The agent enforces the cap, but the agent runs inside the sandbox: a compromised one could
    // stream without end. Count here too, pass on nothing past the cap, and cancel the command.
    // Counted without decoding; only the one chunk that crosses the cap is cut as bytes.
    let passed = 0;
    let overCap = false;
    const capped: EncodedOutputListener = (stream, data) => {
      const room = cap - passed;
      const length = Buffer.byteLength(data, "base64");
      if (room <= 0 || length > room) {
        overCap = true;
        cancel();
      }
      if (room <= 0) return;
      const part = length > room ? Buffer.from(data, "base64").subarray(0, room).toString("base64") : data;
      passed += Math.min(length, room);
      onOutput?.(stream, part);
    };
    const reply = await this.call(request, capped);
    if (reply.type !== "exit") throw new GuestError("EPROTO", `guest answered exec with ${reply.type}`);
    const { type: _type, id: _id, ...exit } = reply;
    return overCap ? { ...exit, truncated: true, outputBytes: Math.min(exit.outputBytes, cap) } : exit;
  }

  async readFile(path: string): Promise<Buffer> {
    const reply = await this.call({ type: "readFile", id: nanoid(12), path });
    if (reply.type !== "file") throw new GuestError("EPROTO", `guest answered readFile with ${reply.type}`);
    return Buffer.from(reply.data, "base64");
  }

  async writeFile(path: string, data: Buffer, mode?: number): Promise<void> {
    await this.call({ type: "writeFile", id: nanoid(12), path, data: data.toString("base64"), ...(mode !== undefined && { mode }) });
  }

  async list(path: string): Promise<readonly FileEntry[]> {
    const reply = await this.call({ type: "list", id: nanoid(12), path });
    if (reply.type !== "entries") throw new GuestError("EPROTO", `guest answered list with ${reply.type}`);
    return reply.entries;
  }

  async stat(path: string): Promise<FileEntry> {
    const reply = await this.call({ type: "stat", id: nanoid(12), path });
    if (reply.type !== "stat") throw new GuestError("EPROTO", `guest answered stat with ${reply.type}`);
    return reply.entry;
  }

  /** Asks the agent to kill what it runs and exit; resolves when it has acknowledged. */
  async shutdown(): Promise<void> {
    await this.call({ type: "shutdown", id: nanoid(12) });
  }

  private call(request: HostMessage, onOutput?: EncodedOutputListener): Promise<GuestMessage> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<GuestMessage>((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject, ...(onOutput && { onOutput }) });
      this.send(request);
    });
  }

  private send(message: HostMessage): void {
    this.output.write(encodeFrame(message));
  }

  private dispatch(msg: GuestMessage): void {
    if (msg.type === "hello") return this.close(new GuestError("EPROTO", "guest said hello twice"));
    if (msg.id === null) {
      // An error about no request in particular (a bad frame, or the agent crashing).
      if (msg.type === "error" && msg.code === "EAGENT") this.close(new GuestError(msg.code, msg.message));
      return;
    }
    const pending = this.pending.get(msg.id);
    if (!pending) return; // a late reply to something we gave up on
    if (msg.type === "output") {
      pending.onOutput?.(msg.stream, msg.data);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.type === "error") pending.reject(new GuestError(msg.code, msg.message));
    else pending.resolve(msg);
  }
}
