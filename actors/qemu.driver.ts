// The `qemu` backend: a micro-VM per sandbox — QEMU's `microvm` machine booting Debian's cloud
// kernel from the guest image (actors/guest-image.ts), the image's ext4 root read-only with a
// writable overlay in guest RAM, no network device at all, and the guest agent on a
// virtio-serial port whose host side is a Unix socket in the sandbox's work dir (these hosts
// have no vhost-vsock). KVM when a real boot under it succeeds, TCG otherwise.
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { Effect, Schedule } from "effect";
import type { GuestImage } from "./guest-image.ts";
import { bootProcessSandbox, destroyProcessSandbox, type DriverEnv, provisionProcessSandbox } from "./process-sandbox.ts";
import { probeDriver } from "./sandbox-probe.ts";
import type { ProbeResult, Sandbox, SandboxDriver, SandboxRecord, SandboxSpec } from "./sandbox-driver.ts";
import { SandboxError } from "./sandbox-driver.ts";
import { limitsInForce } from "./sandbox-view.ts";

const run = promisify(execFile);
/** Memory the QEMU process needs beyond the guest's RAM; the cgroup limit is guest RAM plus this. */
export const QEMU_OVERHEAD_MIB = 192;
const AGENT_PORT = "org.ironclaw.agent";

export function findQemu(): string | null {
  for (const p of ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"]) if (existsSync(p)) return p;
  return null;
}

export interface QemuEnv extends DriverEnv {
  /** The guest image this build of IronClaw boots, or null when none has been built. */
  readonly image: () => GuestImage | null;
  /** "kvm" only where a real boot under KVM has worked (see kvmProbe); "tcg" otherwise. */
  readonly accelerator: () => Promise<"kvm" | "tcg">;
}

/**
 * The guest kernel calibrates its TSC against the emulated PIT, which fails now and then under
 * TCG and hangs the boot (microvm has no HPET or ACPI PM timer): give it the rate instead.
 */
function tscKhz(): number | null {
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
  return mhz ? Math.round(Number(mhz) * 1000) : null;
}

export function qemuArgv(qemu: string, image: GuestImage, workDir: string, memoryMiB: number, accel: "kvm" | "tcg"): string[] {
  const tsc = tscKhz();
  const append = ["console=ttyS0", "quiet", "panic=-1", ...(tsc ? [`tsc_early_khz=${tsc}`, "tsc=reliable"] : [])].join(" ");
  return [
    qemu,
    "-M", `microvm,accel=${accel}`,
    "-cpu", accel === "kvm" ? "host" : "max",
    "-m", String(memoryMiB),
    "-smp", "1",
    "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
    "-kernel", image.kernel,
    "-initrd", image.initrd,
    "-append", append,
    "-serial", `file:${join(workDir, "console.log")}`,
    "-drive", `id=root,file=${image.rootfs},if=none,format=raw,readonly=on`,
    "-device", "virtio-blk-device,drive=root",
    "-device", "virtio-serial-device,max_ports=2",
    "-chardev", `socket,id=agent,path=${join(workDir, "agent.sock")},server=on,wait=off`,
    "-device", `virtserialport,chardev=agent,name=${AGENT_PORT},nr=1`,
    "-qmp", `unix:${join(workDir, "qmp.sock")},server=on,wait=off`,
  ];
}

function connectOnce(path: string, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const onAbort = () => socket.destroy(new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => {
      signal.removeEventListener("abort", onAbort);
      resolve(socket);
    });
    socket.once("error", (e) => reject(e));
  });
}

/** QEMU creates the agent socket a moment after it starts: retry on an Effect Schedule until it does. */
export function connectAgentSocket(path: string, signal: AbortSignal): Promise<Socket> {
  const attempt = Effect.tryPromise({ try: (s) => connectOnce(path, s), catch: (e) => e as Error });
  return Effect.runPromise(attempt.pipe(Effect.retry({ schedule: Schedule.spaced("10 millis"), while: () => !signal.aborted })), { signal });
}

function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export class QemuDriver implements SandboxDriver {
  readonly backend = "qemu" as const;
  private readonly env: QemuEnv;

  constructor(env: QemuEnv) {
    this.env = env;
  }

  private qemu(): string {
    const qemu = findQemu();
    if (!qemu) throw new SandboxError("EBACKEND", "the qemu backend needs QEMU: install it with `apt-get install qemu-system-x86`");
    return qemu;
  }

  private image(): GuestImage {
    const image = this.env.image();
    if (!image) throw new SandboxError("EBACKEND", "no guest image for this version of IronClaw: build one with `ironclaw image build`");
    return image;
  }

  async provision(spec: SandboxSpec): Promise<SandboxRecord> {
    this.qemu();
    this.image();
    // The guest's RAM is the sandbox's memory; QEMU itself needs some on top.
    return provisionProcessSandbox(this.env, { ...spec, limits: { ...spec.limits, memoryMiB: spec.limits.memoryMiB + QEMU_OVERHEAD_MIB } });
  }

  async boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox> {
    const image = this.image();
    const accel = await this.env.accelerator();
    const memoryMiB = (record.limits?.memoryMiB ?? 512 + QEMU_OVERHEAD_MIB) - QEMU_OVERHEAD_MIB;
    return bootProcessSandbox(
      this.env,
      record,
      {
        argv: qemuArgv(this.qemu(), image, record.workDir, memoryMiB, accel),
        isolation: `qemu micro-VM (${accel === "kvm" ? "KVM" : "TCG emulation"}), guest kernel ${image.kernelRelease}, ${memoryMiB} MiB; no network device; ${limitsInForce(record)}`,
        connect: (s) => connectAgentSocket(join(record.workDir, "agent.sock"), s),
        moreDiagnostics: () => tail(join(record.workDir, "console.log")),
      },
      signal,
    );
  }

  destroy(record: SandboxRecord): Promise<void> {
    return destroyProcessSandbox(this.env, record);
  }

  async probe(signal?: AbortSignal): Promise<ProbeResult> {
    const qemu = findQemu();
    if (!qemu) return { backend: this.backend, usable: false, reason: "QEMU is not installed (apt-get install qemu-system-x86)" };
    if (!this.env.image()) return { backend: this.backend, usable: false, reason: "no guest image for this version of IronClaw (ironclaw image build)" };
    const version = (await run(qemu, ["--version"]).catch(() => ({ stdout: "unknown" }))).stdout.split("\n")[0]!.trim();
    return probeDriver(this, `${version}, ${await this.env.accelerator()}`, signal);
  }
}

/**
 * Whether KVM really works here: /dev/kvm can exist on hosts where a stock kernel hangs under it
 * (a PVM host), so boot the guest image's kernel under KVM and see it reach userspace.
 */
export async function kvmBoots(image: GuestImage, timeoutMs = 4000): Promise<boolean> {
  const qemu = findQemu();
  if (!qemu || !existsSync("/dev/kvm")) return false;
  return new Promise((resolve) => {
    const child = spawn(
      qemu,
      ["-M", "microvm,accel=kvm", "-cpu", "host", "-m", "128", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-kernel", image.kernel, "-initrd", image.initrd, "-append", "console=ttyS0 panic=-1 rdinit=/bin/true", "-serial", "stdio"],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      resolve(ok);
    };
    // The kernel panics ("Attempted to kill init") once /bin/true, its first userspace process, exits.
    child.stdout.on("data", (d) => {
      out += d;
      if (/Attempted to kill init|Run \/bin\/true/.test(out)) done(true);
    });
    child.once("exit", () => done(/Attempted to kill init|Run \/bin\/true/.test(out)));
    const timer = setTimeout(() => done(false), timeoutMs);
  });
}
