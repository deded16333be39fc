// Clones of one VM snapshot must not share the kernel's random stream. Linux 6.1 reseeds its CRNG
// only on a schedule (every uptime/2 s early in boot, every 60 s later) and a write to
// /dev/urandom does not reseed it, so the agent's `resume` asks for a reseed (crng-reseed).
// Whether a snapshot made by warm() shows the problem depends on when the kernel last reseeded,
// so this test makes its own snapshot right after a reseed: restored without `resume`, its clones
// are then certain to share their stream (the control), and restored with it, they must not.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GuestChannel } from "../../actors/guest/guest-channel.ts";
import { findImage, imageInputs } from "../../actors/sandbox/guest-image.ts";
import { Qmp } from "../../actors/sandbox/qmp.ts";
import { connectAgentSocket, findQemu, qemuArgv } from "../../actors/sandbox/qemu.driver.ts";
import { encodeFrame, FrameDecoder } from "../../guest-agent/framing.ts";
import { env } from "../support/backends.ts";

const qemu = findQemu();
const image = findImage(imageInputs(env));
/** The boot id (made on first read) and 64 separate 8-byte reads of /dev/urandom. */
const READ = "cat /proc/sys/kernel/random/boot_id; dd if=/dev/urandom bs=8 count=64 2>/dev/null | od -An -tx8 -v";

interface Sample {
  readonly bootId: string;
  readonly reads: ReadonlySet<string>;
}

function sample(out: string): Sample {
  const [bootId, ...reads] = out.trim().split(/\s+/);
  return { bootId: bootId!, reads: new Set(reads) };
}

/** How many reads two clones share: kernel consumers can shift one clone's stream, never change it. */
function shared(a: Sample, b: Sample): number {
  return [...a.reads].filter((r) => b.reads.has(r)).length;
}

/** An exec over the bare agent socket: no `resume` first, so no reseed. */
function execWithoutResume(socket: Socket, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    let out = "";
    socket.on("data", (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (!frame.ok) return reject(new Error(frame.error));
        const m = frame.json as { type: string; id?: string; data?: string };
        if (m.id !== "control") continue;
        if (m.type === "output") out += Buffer.from(m.data!, "base64").toString();
        else if (m.type === "exit") resolve(out);
        else reject(new Error(JSON.stringify(m)));
      }
    });
    socket.write(encodeFrame({ type: "exec", id: "control", argv: ["sh", "-c", script] }));
  });
}

async function withVm<T>(dir: string, extra: string[], body: (qmp: Qmp, signal: AbortSignal) => Promise<T>): Promise<T> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const [file, ...args] = qemuArgv(qemu!, image!, dir, 256, "tcg");
  const child = spawn(file!, [...args, ...extra], { stdio: "ignore" });
  const exited = once(child, "exit");
  const abort = AbortSignal.timeout(60_000);
  try {
    const qmp = await Qmp.connect(join(dir, "qmp.sock"), abort);
    try {
      return await body(qmp, abort);
    } finally {
      qmp.close();
    }
  } finally {
    child.kill("SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!qemu || !image)("VMs restored from one snapshot", () => {
  it("get a kernel random stream of their own on resume", async () => {
    const root = join(process.env.IRONCLAW_TEST_SCRATCH!, "entropy");
    const snapshot = join(root, "vm.state");
    mkdirSync(root, { recursive: true });
    try {
      await withVm(join(root, "source"), [], async (qmp, signal) => {
        const socket = await connectAgentSocket(join(root, "source", "agent.sock"), signal);
        const channel = new GuestChannel(socket, socket);
        await channel.hello;
        // Reseed now: the kernel's next scheduled reseed is then at least a second away.
        expect((await channel.exec({ argv: ["/opt/ironclaw/crng-reseed"] })).code).toBe(0);
        await qmp.command("stop");
        await qmp.command("migrate", { uri: `exec:cat > '${snapshot}'` });
        const done = await qmp.until("query-migrate", (v) => v.status === "completed" || v.status === "failed", signal);
        expect(done.status).toBe("completed");
        socket.destroy();
      });

      const restore = (name: string, resume: boolean): Promise<Sample> =>
        withVm(join(root, name), ["-incoming", `exec:cat '${snapshot}'`], async (qmp, signal) => {
          await qmp.until("query-status", (v) => v.status === "paused", signal);
          const socket = await connectAgentSocket(join(root, name, "agent.sock"), signal);
          await qmp.command("cont");
          try {
            if (!resume) return sample(await execWithoutResume(socket, READ));
            const channel = new GuestChannel(socket, socket, { resume: true });
            await channel.hello;
            let out = "";
            await channel.exec({ argv: ["sh", "-c", READ] }, (_, d) => (out += d.toString()));
            return sample(out);
          } finally {
            socket.destroy();
          }
        });

      // The control: without `resume`, two clones share (nearly all of) their stream.
      const [a, b] = [await restore("a", false), await restore("b", false)];
      expect(a.reads.size).toBe(64);
      expect(a.bootId).toBe(b.bootId);
      expect(shared(a, b)).toBeGreaterThan(32);

      const [c, d] = [await restore("c", true), await restore("d", true)];
      expect(c.reads.size).toBe(64);
      expect(c.bootId).not.toBe(d.bootId);
      expect(shared(c, d)).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 180_000);
});
