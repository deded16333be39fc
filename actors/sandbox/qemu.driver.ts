// The `qemu` backend: a micro-VM per sandbox — QEMU's `microvm` machine booting Debian's cloud
// kernel from the guest image (actors/sandbox/guest-image.ts), the image's ext4 root read-only with a
// writable overlay in guest RAM, no network device at all, and the guest agent on a
// virtio-serial port whose host side is a Unix socket in the sandbox's work dir (these hosts
// have no vhost-vsock). KVM when a real boot under it succeeds, TCG otherwise. QEMU itself runs
// jailed (actors/sandbox/qemu-jail.ts): under the sandbox's own unprivileged host ids, bubblewrap
// included, in namespaces of its own, with its seccomp sandbox on.
import { execFile } from "node:child_process";
import { chownSync, createWriteStream, existsSync, lchownSync, mkdirSync, readFileSync } from "node:fs";
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { Effect, Schedule } from "effect";
import { nanoid } from "nanoid";
import { Qmp } from "./qmp.ts";
import { findBwrap } from "./bubblewrap.driver.ts";
import { JAIL_IMAGE, JAIL_VM_DIR, jailArgv, type JailIds, reachableImage, SNAPSHOT_FD } from "./qemu-jail.ts";
import { type IdBlock, type IdRange, type IdRangeProblem, isRangeProblem, reservedRange } from "./sandbox-ids.ts";
import type { GuestImage } from "./guest-image.ts";
import { bootProcessSandbox, destroyProcessSandbox, type DriverEnv, provisionProcessSandbox } from "./process-sandbox.ts";
import { probeDriver } from "./sandbox-probe.ts";
import type { ProbeResult, Sandbox, SandboxDriver, SandboxLimits, SandboxRecord, SandboxSpec } from "./sandbox-driver.ts";
import { limitsInForce } from "./sandbox-view.ts";
import { SandboxLease } from "./sandbox-lease.ts";
import { consoleTail, guestMemory } from "./vm-guest.ts";
import { type SnapshotSettings, type VmSnapshot, VmSnapshotCache } from "./vm-snapshot-cache.ts";
import { SandboxError } from "../../core/errors.ts";

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
  /** "kvm" only where a real boot under KVM has worked (see kvmBoots); "tcg" otherwise. */
  readonly accelerator: () => Promise<"kvm" | "tcg">;
  /** Where VM snapshots live, and how old one may get before it is made anew. */
  readonly snapshots: () => SnapshotSettings;
  /** Where each VM's host ids come from when IronClaw is root (default: the range in /etc/subuid). */
  readonly idRange?: () => IdRange | IdRangeProblem;
}

/**
 * The guest kernel calibrates its TSC against the emulated PIT, which fails now and then under
 * TCG and hangs the boot (microvm has no HPET or ACPI PM timer): give it the rate instead.
 */
function tscKhz(): number | null {
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
  return mhz ? Math.round(Number(mhz) * 1000) : null;
}

/**
 * What the guest kernel is told besides `console=ttyS0 quiet panic=-1` (shared with the bench's
 * raw-QEMU baseline, so that compares like with like). `cryptomgr.notests`: the kernel's crypto
 * self-tests (known-answer tests of every algorithm it registers) took ≈ 0.3–0.4 s of a TCG boot;
 * they check the implementations, not any input, and the guest runs no FIPS mode.
 */
export function kernelTuning(): string[] {
  const tsc = tscKhz();
  return ["cryptomgr.notests", ...(tsc ? [`tsc_early_khz=${tsc}`, "tsc=reliable"] : [])];
}

/**
 * What every QEMU of IronClaw's starts with, the sandbox's and the KVM probe's alike: a one-CPU
 * microvm with no default devices, no network device, and `kernel` and `initrd` booted with
 * `append`. The caller adds the serial console and whatever devices it needs.
 */
export function microvmArgv(qemu: string, accel: "kvm" | "tcg", memoryMiB: number, boot: { readonly kernel: string; readonly initrd: string; readonly append: string }): string[] {
  return [
    qemu,
    "-M",
    `microvm,accel=${accel}`,
    "-cpu",
    accel === "kvm" ? "host" : "max",
    "-m",
    String(memoryMiB),
    "-smp",
    "1",
    "-nodefaults",
    "-no-user-config",
    "-nographic",
    "-no-reboot",
    // No network device; -nodefaults already leaves it out, this says so where it can be checked.
    "-nic",
    "none",
    "-kernel",
    boot.kernel,
    "-initrd",
    boot.initrd,
    "-append",
    boot.append,
  ];
}

export function qemuArgv(qemu: string, image: GuestImage, workDir: string, memoryMiB: number, accel: "kvm" | "tcg"): string[] {
  const append = ["console=ttyS0", "quiet", "panic=-1", ...kernelTuning()].join(" ");
  return [
    ...microvmArgv(qemu, accel, memoryMiB, { kernel: image.kernel, initrd: image.initrd, append }),
    "-serial",
    `file:${join(workDir, "console.log")}`,
    "-drive",
    `id=root,file=${image.rootfs},if=none,format=raw,readonly=on`,
    "-device",
    "virtio-blk-device,drive=root",
    "-device",
    "virtio-serial-device,max_ports=2",
    "-chardev",
    `socket,id=agent,path=${join(workDir, "agent.sock")},server=on,wait=off`,
    "-device",
    `virtserialport,chardev=agent,name=${AGENT_PORT},nr=1`,
    "-qmp",
    `unix:${join(workDir, "qmp.sock")},server=on,wait=off`,
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

function isolation(image: GuestImage, accel: "kvm" | "tcg", memoryMiB: number, record: SandboxRecord, how: string): string {
  const who = record.ids ? `host uid ${record.ids.uidBase}` : `host uid ${process.getuid?.() ?? "?"} (yours)`;
  return (
    `qemu micro-VM (${accel === "kvm" ? "KVM" : "TCG emulation"}, ${how}), guest kernel ${image.kernelRelease}, ${memoryMiB} MiB; no network device; ` +
    `emulator jailed (${who}, own mount/pid/net namespaces, seccomp sandbox); ${limitsInForce(record)}`
  );
}

/** The VM's own directory in its work dir, the only host directory its jail shows: sockets and console log. */
export function vmDir(record: SandboxRecord): string {
  return join(record.workDir, "vm");
}

/** The emulator's ids: the first of the sandbox's block (one uid of its own is all QEMU needs). */
function emulatorIds(ids: IdBlock | undefined): JailIds | null {
  return ids ? { uid: ids.uidBase, gid: ids.gidBase } : null;
}

const runsAsRoot = () => process.getuid?.() === 0;

/** The guest image as the jail shows it. */
function jailedImage(image: GuestImage): GuestImage {
  return { ...image, ...JAIL_IMAGE };
}

/**
 * Saves a stopped VM's state to `file` (created 0600, so guest memory is the owner's alone from the
 * first byte). QEMU 7.2 has no `file:` migration, its sandbox forbids `exec:`, and `fd:` wants a
 * descriptor passed over QMP (SCM_RIGHTS, which Node cannot send): so IronClaw listens on a socket
 * in the VM's directory, owned by the VM's ids, and QEMU streams to it.
 */
async function migrateToFile(qmp: Qmp, record: SandboxRecord, file: string, signal: AbortSignal): Promise<void> {
  const path = join(vmDir(record), "migrate.sock");
  const out = createWriteStream(file, { flags: "wx", mode: 0o600 });
  const server = createServer();
  try {
    await once(out, "open");
    const written = new Promise<void>((resolve, reject) => {
      out.once("error", reject);
      out.once("finish", resolve);
      server.once("connection", (conn) => {
        server.close(); // one stream, from this VM's QEMU
        conn.once("error", reject);
        conn.pipe(out);
      });
    });
    written.catch(() => {});
    server.listen(path);
    await once(server, "listening");
    // The socket is made under IronClaw's ids: hand it to the VM's. lchown: the directory is the
    // VM's, so what sits at that name by now may be a link it planted; never follow one as root.
    // (No chmod: it would follow links, and the VM's 0700 dir already keeps everyone else out.)
    const ids = emulatorIds(record.ids);
    if (ids) lchownSync(path, ids.uid, ids.gid);
    await qmp.command("migrate", { uri: `unix:${JAIL_VM_DIR}/migrate.sock` });
    const done = await qmp.until("query-migrate", (v) => v.status === "completed" || v.status === "failed", signal);
    if (done.status !== "completed") throw new SandboxError("EBOOT", `saving the VM snapshot failed: ${JSON.stringify(done)}`);
    // Completed on QEMU's side; the file holds all of it once the stream has ended and is written.
    await Promise.race([written, once(signal, "abort").then(() => Promise.reject(new SandboxError("EBOOT", "saving the VM snapshot was aborted")))]);
  } finally {
    server.close();
    out.destroy();
  }
}

export class QemuDriver implements SandboxDriver {
  readonly backend = "qemu" as const;
  private readonly env: QemuEnv;
  private readonly snapshots: VmSnapshotCache;

  constructor(env: QemuEnv) {
    this.env = env;
    this.snapshots = new VmSnapshotCache(env.snapshots, ["vmstate"]);
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

  private bwrap(): string {
    const bwrap = findBwrap();
    if (!bwrap) throw new SandboxError("EBACKEND", "the qemu backend jails QEMU with bubblewrap: install it with `apt-get install bubblewrap`");
    return bwrap;
  }

  /** IronClaw as root: the range each VM's emulator takes host ids from, or a clear refusal. */
  private idRange(): IdRange | null {
    if (!runsAsRoot()) return null;
    const range = (this.env.idRange ?? reservedRange)();
    if (isRangeProblem(range)) throw new SandboxError("EBACKEND", `the qemu backend will not run QEMU as host root: ${range.reason}`);
    return range;
  }

  /**
   * Makes the work dir and cgroup, takes the VM's own block of host ids (IronClaw as root: the
   * record names it, and destroy frees it, also the reaper's), and makes the VM's directory:
   * QEMU makes its sockets and console log there. bubblewrap, under those ids, binds it by path,
   * so as root the work dir is made where they can reach it, and handed to them.
   */
  async provision(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxRecord> {
    this.qemu();
    this.image();
    this.bwrap();
    // The guest's RAM is the sandbox's memory; QEMU itself needs some on top.
    const limits = { ...spec.limits, memoryMiB: spec.limits.memoryMiB + QEMU_OVERHEAD_MIB };
    const record = await provisionProcessSandbox(this.env, { ...spec, limits }, signal, this.idRange() ?? undefined, true);
    try {
      mkdirSync(vmDir(record), { mode: 0o700 });
      const ids = emulatorIds(record.ids);
      if (ids) for (const dir of [record.workDir, vmDir(record)]) chownSync(dir, ids.uid, ids.gid);
      signal?.throwIfAborted();
      return record;
    } catch (err) {
      await this.destroy(record);
      throw err;
    }
  }

  /** The jailed QEMU command line for `record`, restoring `snapshot` when given. */
  private argv(record: SandboxRecord, image: GuestImage, accel: "kvm" | "tcg", snapshot?: string): string[] {
    // Never QEMU as host root: a record without ids (made before ids existed) is not booted by root.
    if (runsAsRoot() && !record.ids) throw new SandboxError("EBACKEND", "refusing to run QEMU as host root: this sandbox has no host ids of its own");
    const emulator = qemuArgv(this.qemu(), jailedImage(image), JAIL_VM_DIR, guestMemory(record, QEMU_OVERHEAD_MIB), accel);
    const ids = emulatorIds(record.ids);
    return jailArgv(
      { bwrap: this.bwrap(), image: ids ? reachableImage(image) : image, vmDir: vmDir(record), kvm: accel === "kvm", ids, ...(snapshot && { snapshot }) },
      snapshot ? [...emulator, "-incoming", `fd:${SNAPSHOT_FD}`] : emulator,
    );
  }

  /** Boots from the snapshot when a fresh one exists for this image and memory size, else cold. */
  async boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox> {
    const image = this.image();
    const accel = await this.env.accelerator();
    const snapshot = this.snapshot(image, guestMemory(record, QEMU_OVERHEAD_MIB), accel);
    if (this.snapshots.fresh(snapshot)) {
      try {
        return await this.bootRestored(record, image, accel, snapshot.files[0]!, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        this.snapshots.drop(snapshot);
      }
    }
    return this.bootCold(record, image, accel, signal);
  }

  private bootCold(record: SandboxRecord, image: GuestImage, accel: "kvm" | "tcg", signal?: AbortSignal): Promise<Sandbox> {
    const memoryMiB = guestMemory(record, QEMU_OVERHEAD_MIB);
    return bootProcessSandbox(
      this.env,
      record,
      {
        argv: this.argv(record, image, accel),
        isolation: isolation(image, accel, memoryMiB, record, "booted cold"),
        connect: (s) => connectAgentSocket(join(vmDir(record), "agent.sock"), s),
        moreDiagnostics: () => consoleTail(join(vmDir(record), "console.log")),
      },
      signal,
    );
  }

  private bootRestored(record: SandboxRecord, image: GuestImage, accel: "kvm" | "tcg", snapshot: string, signal?: AbortSignal): Promise<Sandbox> {
    const memoryMiB = guestMemory(record, QEMU_OVERHEAD_MIB);
    return bootProcessSandbox(
      this.env,
      record,
      {
        argv: this.argv(record, image, accel, snapshot),
        isolation: isolation(image, accel, memoryMiB, record, "restored from a snapshot"),
        // The snapshot was taken stopped: the restored VM waits, paused, for `cont`. Connect the
        // agent's port first, so the agent keeps its session and only has to be told to resume.
        connect: async (s) => {
          const qmp = await Qmp.connect(join(vmDir(record), "qmp.sock"), s);
          try {
            await qmp.until("query-status", (v) => v.status === "paused", s);
            const socket = await connectAgentSocket(join(vmDir(record), "agent.sock"), s);
            await qmp.command("cont");
            return socket;
          } finally {
            qmp.close();
          }
        },
        resume: true,
        moreDiagnostics: () => consoleTail(join(vmDir(record), "console.log")),
      },
      signal,
    );
  }

  /** QEMU's state for this image, guest memory and accelerator: one migration stream. */
  private snapshot(image: GuestImage, memoryMiB: number, accel: string): VmSnapshot {
    return this.snapshots.snapshot(`${image.id}-m${memoryMiB}-${accel}`);
  }

  /** Makes the snapshot later boots restore, unless a fresh one exists; one at a time per file. */
  async warm(limits: SandboxLimits, signal?: AbortSignal): Promise<void> {
    const image = this.image();
    const accel = await this.env.accelerator();
    await this.snapshots.ensure(this.snapshot(image, limits.memoryMiB, accel), ([file]) => this.makeSnapshot(image, accel, limits, file!, signal));
  }

  /** Boots a VM cold, waits for its agent, stops it, and migrates its whole state to `file`. */
  private async makeSnapshot(image: GuestImage, accel: "kvm" | "tcg", limits: SandboxLimits, file: string, signal?: AbortSignal): Promise<void> {
    await using lease = new SandboxLease(this, `snapshot-${nanoid(8).replace(/[^A-Za-z0-9]/g, "0")}`, this.env.store);
    await lease.provision({ limits }, signal);
    const abort = new AbortController();
    signal?.addEventListener("abort", () => abort.abort(), { once: true });
    const { record } = await lease.boot(abort.signal, (provisioned, s) => this.bootCold(provisioned, image, accel, s));
    const qmp = await Qmp.connect(join(vmDir(record), "qmp.sock"), abort.signal);
    try {
      await qmp.command("stop");
      await migrateToFile(qmp, record, file, abort.signal);
      await qmp.command("quit").catch(() => {});
    } finally {
      qmp.close();
    }
  }

  /** Kills, removes, and frees the VM's id block once nothing runs under it (from the record alone, so also for the reaper). */
  destroy(record: SandboxRecord): Promise<void> {
    return destroyProcessSandbox(this.env, record);
  }

  async probe(signal?: AbortSignal): Promise<ProbeResult> {
    const qemu = findQemu();
    if (!qemu) return { backend: this.backend, usable: false, reason: "QEMU is not installed (apt-get install qemu-system-x86)" };
    if (!this.env.image()) return { backend: this.backend, usable: false, reason: "no guest image for this version of IronClaw (ironclaw image build)" };
    const version = (await run(qemu, ["--version"]).catch(() => ({ stdout: "unknown" }))).stdout.split("\n")[0]!.trim();
    const accelerator = await this.env.accelerator();
    const result = await probeDriver(this, `${version}, ${accelerator}`, signal);
    return result.usable ? { ...result, emulated: accelerator === "tcg" } : result;
  }
}
