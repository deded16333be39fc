// A small client for QEMU's machine protocol (QMP): line-delimited JSON over a Unix socket.
// Enough for what IronClaw asks of QEMU: stop, migrate to a file, query status, cont, quit.
import { connect, type Socket } from "node:net";
import { QmpError } from "../../core/errors.ts";

export class Qmp {
  private readonly socket: Socket;
  private buffer = "";
  private readonly waiting = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private greeted: Promise<void>;
  private seq = 0;
  private closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    let greet: () => void;
    let noGreeting: (e: Error) => void;
    this.greeted = new Promise((resolve, reject) => ((greet = resolve), (noGreeting = reject)));
    this.greeted.catch(() => {});
    socket.setEncoding("utf8");
    socket.on("error", () => {}); // QEMU closes QMP abruptly on quit; pending calls fail below
    socket.on("close", () => {
      this.closed = true;
      noGreeting(new QmpError("QEMU closed its QMP socket before greeting"));
      for (const w of this.waiting.values()) w.reject(new QmpError("QEMU closed its QMP socket"));
      this.waiting.clear();
    });
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { QMP?: unknown; id?: string; return?: unknown; error?: { class: string; desc: string } };
        if (msg.QMP) greet();
        const w = msg.id ? this.waiting.get(msg.id) : undefined;
        if (!w) continue;
        this.waiting.delete(msg.id!);
        if (msg.error) w.reject(new QmpError(`${msg.error.class}: ${msg.error.desc}`));
        else w.resolve(msg.return);
      }
    });
  }

  /** Connects (the socket may not exist yet: QEMU creates it as it starts) and negotiates capabilities. */
  static async connect(path: string, signal: AbortSignal): Promise<Qmp> {
    for (;;) {
      if (signal.aborted) throw new QmpError("aborted");
      const socket = await new Promise<Socket | null>((resolve) => {
        const s = connect(path);
        s.once("connect", () => resolve(s));
        s.once("error", () => resolve(null));
      });
      if (socket) {
        const qmp = new Qmp(socket);
        await qmp.greeted;
        await qmp.command("qmp_capabilities");
        return qmp;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  command(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    const id = `ic${++this.seq}`;
    if (this.closed) return Promise.reject(new QmpError("QEMU closed its QMP socket"));
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify(args ? { execute, arguments: args, id } : { execute, id })}\n`);
    });
  }

  /** Polls `query-*` until `done` says so; QMP events are not needed for that. */
  async until(query: string, done: (value: Record<string, unknown>) => boolean, signal: AbortSignal): Promise<Record<string, unknown>> {
    for (;;) {
      if (signal.aborted) throw new QmpError("aborted");
      const value = (await this.command(query)) as Record<string, unknown>;
      if (done(value)) return value;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
