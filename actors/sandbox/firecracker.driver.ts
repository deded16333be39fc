// The `firecracker` backend: a Firecracker micro-VM per sandbox, booting the same guest image as
// qemu (its uncompressed vmlinux, the initramfs, the read-only ext4 root with a writable overlay
// in guest RAM), configured through Firecracker's API socket (actors/sandbox/firecracker-api.ts), with no
// network device, and the guest agent reached over Firecracker's vsock (actors/guest/vsock.ts): the
// kernel command line names the vsock port, and the image serves the agent there instead of on
// virtio-serial. KVM only (Firecracker has no emulator to fall back to). When IronClaw runs as
// root and Firecracker's `jailer` is installed, every Firecracker runs under it: in a chroot of
// its own inside the sandbox's work dir, as an unprivileged user.
import { execFile } from "node:child_process";
import { accessSync, chownSync, closeSync, constants, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import type { Socket } from "node:net";
import { basename, delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { nanoid } from "nanoid";
import { AGENT_VSOCK_PORT } from "../../guest-agent/guest-protocol.ts";
import { bootPlan, sendAll, snapshotCreatePlan, snapshotLoadPlan, waitForApi } from "./firecracker-api.ts";
import type { GuestImage } from "./guest-image.ts";
import { bootProcessSandbox, destroyProcessSandbox, type DriverEnv, provisionProcessSandbox } from "./process-sandbox.ts";
import { probeDriver } from "./sandbox-probe.ts";
import type { ProbeResult, Sandbox, SandboxDriver, SandboxLimits, SandboxRecord, SandboxSpec } from "./sandbox-driver.ts";
import { limitsInForce } from "./sandbox-view.ts";
import { SandboxLease } from "./sandbox-lease.ts";
import { consoleTail, guestMemory } from "./vm-guest.ts";
import { type SnapshotSettings, type VmSnapshot, VmSnapshotCache } from "./vm-snapshot-cache.ts";
import { connectVsock } from "../guest/vsock.ts";
import { FirecrackerApiError, GuestError, SandboxError } from "../../core/errors.ts";

const run = promisify(execFile);
/** Memory the Firecracker process needs beyond the guest's RAM; the cgroup limit is guest RAM plus this. */
export const FIRECRACKER_OVERHEAD_MIB = 128;
/** Any CID from 3 up: each VM has a vsock device of its own, reached through its own Unix socket. */
const GUEST_CID = 3;
/**
 * `reboot=k`: the guest's reboot (how stage 2 ends a VM whose agent was told to shut down) resets
 * through the keyboard controller, which makes Firecracker exit. `panic=1`: a panicking guest
 * reboots, so the boot fails at once rather than at the boot timeout. The i8042 options skip
 * probing devices Firecracker does not have.
 */
const BOOT_ARGS = [
  "console=ttyS0",
  "reboot=k",
  "panic=1",
  "pci=off",
  "quiet",
  "i8042.noaux",
  "i8042.nomux",
  "i8042.nopnp",
  "i8042.dumbkbd",
  `IRONCLAW_VSOCK_PORT=${AGENT_VSOCK_PORT}`,
].join(" ");
/**
 * How long the vsock connector keeps trying. The statechart's boot timeout normally ends the
 * wait first, through the abort signal; this only bounds a boot that nobody else bounds.
 */
const VSOCK_CONNECT_MS = 120_000;
/** The probe's own bound on a real boot: where KVM hangs a guest, nothing else would end it. */
const PROBE_BOOT_MS = 20_000;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of [...(env.PATH ?? "").split(delimiter), "/usr/local/bin", "/usr/bin"]) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** `IRONCLAW_FIRECRACKER` when set (and executable), else `firecracker` on PATH. */
export function findFirecracker(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.IRONCLAW_FIRECRACKER) return executable(env.IRONCLAW_FIRECRACKER) ? env.IRONCLAW_FIRECRACKER : null;
  return onPath("firecracker", env);
}

export interface JailerConfig {
  readonly jailer: string;
  /** Who Firecracker runs as once jailed; it owns the jail and the jailed snapshots. */
  readonly uid: number;
  readonly gid: number;
}

/**
 * The jailer needs root (it makes a chroot, device nodes and a mount namespace, then drops to
 * `uid`/`gid`), so it is used only by root, and only when installed: `IRONCLAW_JAILER` (a path,
 * or `off`), else `jailer` beside the firecracker binary, else on PATH. Unprivileged IronClaw
 * runs Firecracker directly, as itself, with Firecracker's own seccomp filters.
 */
export function jailerConfig(firecracker: string, env: NodeJS.ProcessEnv = process.env): JailerConfig | null {
  if (process.getuid?.() !== 0 || env.IRONCLAW_JAILER === "off") return null;
  const beside = join(dirname(firecracker), "jailer");
  // Named explicitly, it is used as named: one that is missing fails the boot loudly rather
  // than quietly running Firecracker unjailed as root.
  const jailer = env.IRONCLAW_JAILER || (executable(beside) ? beside : onPath("jailer", env));
  if (!jailer) return null;
  const id = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : 65534);
  return { jailer, uid: id(env.IRONCLAW_JAILER_UID), gid: id(env.IRONCLAW_JAILER_GID) };
}

export interface FirecrackerEnv extends DriverEnv {
  /** The guest image this build of IronClaw boots, or null when none has been built. */
  readonly image: () => GuestImage | null;
  readonly firecracker: () => string | null;
  readonly jailer: (firecracker: string) => JailerConfig | null;
  /** The shared KVM boot probe (kvm-probe.ts): null when it cannot run here (no QEMU to run it). */
  readonly kvmBoots: () => Promise<boolean | null>;
  /** Where VM snapshots live, and how old one may get before it is made anew. */
  readonly snapshots: () => SnapshotSettings;
}

/**
 * Where one Firecracker process finds its files and sockets. Without the jailer, host paths are
 * Firecracker's paths. With it, Firecracker sees only its chroot: files it needs are hard-linked
 * in (copied when the chroot is on another filesystem) and named by chroot-relative paths.
 */
interface Vmm {
  readonly argv: readonly string[];
  readonly jail: JailerConfig | null;
  /** The chroot on the host (the work dir when not jailed). */
  readonly root: string;
  readonly api: string;
  readonly vsock: string;
  /** The vsock socket as Firecracker is told it. */
  readonly vsockInVm: string;
  readonly consoleLog: string;
}

function vmmFor(record: SandboxRecord, firecracker: string, jail: JailerConfig | null): Vmm {
  const consoleLog = join(record.workDir, "console.log");
  // umask 077: Firecracker's sockets and snapshot files (guest memory) are private from their
  // first byte. stdout is the guest's serial console: to a file, as nothing reads a pipe of it.
  const wrap = ["/bin/sh", "-c", 'umask 077; out=$1; shift; exec "$@" >"$out"', "sh", consoleLog];
  if (!jail) {
    const api = join(record.workDir, "api.sock");
    const vsock = join(record.workDir, "vsock.sock");
    return { argv: [...wrap, firecracker, "--api-sock", api], jail, root: record.workDir, api, vsock, vsockInVm: vsock, consoleLog };
  }
  // The jailer's id names the chroot (<base>/<exec name>/<id>/root); the base is this sandbox's own.
  const id = record.id.replace(/[^A-Za-z0-9-]/g, "0").slice(0, 64);
  const base = join(record.workDir, "jail");
  const root = join(base, basename(firecracker), id, "root");
  return {
    argv: [
      ...wrap,
      jail.jailer,
      "--id",
      id,
      "--exec-file",
      firecracker,
      "--uid",
      String(jail.uid),
      "--gid",
      String(jail.gid),
      "--chroot-base-dir",
      base,
      "--",
      "--api-sock",
      "/api.sock",
    ],
    jail,
    root,
    api: join(root, "api.sock"),
    vsock: join(root, "vsock.sock"),
    vsockInVm: "/vsock.sock",
    consoleLog,
  };
}

/** A fresh start for one Firecracker process: no sockets or jail left by an earlier attempt (a failed restore). */
function resetVmm(vmm: Vmm, record: SandboxRecord): void {
  if (vmm.jail) {
    rmSync(join(record.workDir, "jail"), { recursive: true, force: true });
    mkdirSync(vmm.root, { recursive: true, mode: 0o700 });
    chownSync(vmm.root, vmm.jail.uid, vmm.jail.gid); // Firecracker makes its sockets here
  } else {
    for (const f of [vmm.api, vmm.vsock]) rmSync(f, { force: true });
  }
}

/** Makes `hostFile` visible to the Firecracker of `vmm` as `name`; returns the path to tell Firecracker. */
function place(vmm: Vmm, hostFile: string, name: string): string {
  if (!vmm.jail) return hostFile;
  const target = join(vmm.root, name);
  try {
    linkSync(hostFile, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    // Another filesystem: a copy (slow for the root filesystem; see docs/backends.md), the jail's own.
    copyFileSync(hostFile, target);
    chownSync(target, vmm.jail.uid, vmm.jail.gid);
  }
  return `/${name}`;
}

function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    copyFileSync(from, to);
    rmSync(from, { force: true });
  }
}

/** Firecracker boots only an ELF kernel on x86: the image has one when its build could unpack the bzImage (lz4). */
function isElf(path: string): boolean {
  try {
    const fd = openSync(path, "r");
    try {
      const magic = Buffer.alloc(4);
      readSync(fd, magic, 0, 4, 0);
      return magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

function isolation(image: GuestImage, vmm: Vmm, memoryMiB: number, record: SandboxRecord, how: string): string {
  const jailed = vmm.jail ? `, jailed as uid ${vmm.jail.uid}` : "";
  return `firecracker micro-VM (KVM, ${how}${jailed}), guest kernel ${image.kernelRelease}, ${memoryMiB} MiB; no network device; ${limitsInForce(record)}`;
}

/** A snapshot's files, in the order they are written: the memory first, so a state file is only ever next to the memory it was saved with. */
const SNAPSHOT_FILES = ["mem", "snap"] as const;

export class FirecrackerDriver implements SandboxDriver {
  readonly backend = "firecracker" as const;
  private readonly env: FirecrackerEnv;
  private readonly snapshots: VmSnapshotCache;
  /**
   * Set when Firecracker refuses to load our snapshots (an older release without
   * `vsock_override`, say): later boots go cold, and warm() stops making snapshots nobody can use.
   */
  private restoreRefused: string | null = null;

  constructor(env: FirecrackerEnv) {
    this.env = env;
    this.snapshots = new VmSnapshotCache(env.snapshots, SNAPSHOT_FILES);
  }

  private firecracker(): string {
    const fc = this.env.firecracker();
    if (!fc) throw new SandboxError("EBACKEND", "the firecracker backend needs Firecracker: put `firecracker` on PATH or set IRONCLAW_FIRECRACKER (docs/backends.md)");
    return fc;
  }

  private image(): GuestImage {
    const image = this.env.image();
    if (!image) throw new SandboxError("EBACKEND", "no guest image for this version of IronClaw: build one with `ironclaw image build`");
    if (!isElf(image.kernel)) {
      throw new SandboxError("EBACKEND", "the guest image has no uncompressed kernel, which Firecracker needs: install lz4 and run `ironclaw image build --force`");
    }
    return image;
  }

  private vmm(record: SandboxRecord): Vmm {
    const fc = this.firecracker();
    return vmmFor(record, fc, this.env.jailer(fc));
  }

  async provision(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxRecord> {
    this.firecracker();
    this.image();
    // The guest's RAM is the sandbox's memory; Firecracker itself needs some on top.
    return provisionProcessSandbox(this.env, { ...spec, limits: { ...spec.limits, memoryMiB: spec.limits.memoryMiB + FIRECRACKER_OVERHEAD_MIB } }, signal);
  }

  /** Restores from the snapshot when a fresh one exists for this image and memory size, else boots cold. */
  async boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox> {
    const image = this.image();
    const snapshot = this.snapshot(image, guestMemory(record, FIRECRACKER_OVERHEAD_MIB));
    if (!this.restoreRefused && this.snapshots.fresh(snapshot)) {
      try {
        return await this.bootRestored(record, image, snapshot, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        this.snapshots.drop(snapshot);
      }
    }
    return this.bootCold(record, image, signal);
  }

  /** `onAgent` sees the vsock connection itself: a snapshot must close it before it pauses the VM. */
  private bootCold(record: SandboxRecord, image: GuestImage, signal?: AbortSignal, onAgent?: (socket: Socket) => void): Promise<Sandbox> {
    const vmm = this.vmm(record);
    resetVmm(vmm, record);
    const memoryMiB = guestMemory(record, FIRECRACKER_OVERHEAD_MIB);
    const plan = bootPlan({
      kernelPath: place(vmm, image.kernel, "vmlinux"),
      initrdPath: place(vmm, image.initrd, "initrd"),
      rootfsPath: place(vmm, image.rootfs, "rootfs.ext4"),
      bootArgs: BOOT_ARGS,
      vcpus: 1,
      memoryMiB,
      vsockPath: vmm.vsockInVm,
      guestCid: GUEST_CID,
    });
    return bootProcessSandbox(
      this.env,
      record,
      {
        argv: vmm.argv,
        isolation: isolation(image, vmm, memoryMiB, record, "booted cold"),
        connect: async (s) => {
          await waitForApi(vmm.api, s);
          await sendAll(vmm.api, plan, s);
          const socket = await connectVsock(vmm.vsock, AGENT_VSOCK_PORT, VSOCK_CONNECT_MS, s);
          onAgent?.(socket);
          return socket;
        },
        moreDiagnostics: () => consoleTail(vmm.consoleLog),
      },
      signal,
    );
  }

  private bootRestored(record: SandboxRecord, image: GuestImage, snapshot: VmSnapshot, signal?: AbortSignal): Promise<Sandbox> {
    const [memory, state] = snapshot.files as [string, string];
    const vmm = this.vmm(record);
    resetVmm(vmm, record);
    // A jailed snapshot names the root filesystem by its path in the jail it was made in.
    if (vmm.jail) place(vmm, image.rootfs, "rootfs.ext4");
    const plan = snapshotLoadPlan(
      place(vmm, state, "vm.snap"),
      place(vmm, memory, "vm.mem"),
      // Jailed, every VM's socket is /vsock.sock in its own chroot: the snapshot's path is right.
      vmm.jail ? undefined : vmm.vsockInVm,
    );
    return bootProcessSandbox(
      this.env,
      record,
      {
        argv: vmm.argv,
        isolation: isolation(image, vmm, guestMemory(record, FIRECRACKER_OVERHEAD_MIB), record, "restored from a snapshot"),
        // Firecracker closes every vsock connection in a snapshot; the guest's listener survives,
        // and so does the agent's session (stage 2 keeps it on pipes), so a new connection asks
        // it to resume: set the clock and take fresh entropy.
        connect: async (s) => {
          await waitForApi(vmm.api, s);
          await sendAll(vmm.api, plan, s).catch((err: unknown) => {
            // Not understood at all (an older API), as opposed to a snapshot that is bad.
            if (err instanceof FirecrackerApiError && /unknown field/i.test(err.message)) this.restoreRefused = err.message;
            throw err;
          });
          return connectVsock(vmm.vsock, AGENT_VSOCK_PORT, VSOCK_CONNECT_MS, s);
        },
        resume: true,
        moreDiagnostics: () => consoleTail(vmm.consoleLog),
      },
      signal,
    );
  }

  /** Jailed and unjailed snapshots name their files differently (chroot paths or host paths): never mixed. The jail's user owns a jailed one. */
  private snapshot(image: GuestImage, memoryMiB: number): VmSnapshot {
    const jail = this.env.jailer(this.firecracker());
    return this.snapshots.snapshot(`${image.id}-m${memoryMiB}-firecracker${jail ? "-jailed" : ""}`, jail?.uid ?? process.getuid?.());
  }

  /** Makes the snapshot later boots restore, unless a fresh one exists; one at a time per snapshot. */
  async warm(limits: SandboxLimits, signal?: AbortSignal): Promise<void> {
    const image = this.image();
    if (this.restoreRefused) return;
    await this.snapshots.ensure(this.snapshot(image, limits.memoryMiB), ([memory, state]) => this.makeSnapshot(image, limits, memory!, state!, signal));
  }

  /** Boots a VM cold, waits for its agent, closes the agent's connection, pauses the VM and writes its state and memory. */
  private async makeSnapshot(image: GuestImage, limits: SandboxLimits, memory: string, state: string, signal?: AbortSignal): Promise<void> {
    await using lease = new SandboxLease(this, `snapshot-${nanoid(8).replace(/[^A-Za-z0-9]/g, "0")}`, this.env.store);
    await lease.provision({ limits }, signal);
    const abort = new AbortController();
    signal?.addEventListener("abort", () => abort.abort(), { once: true });
    let agent: Socket | undefined;
    const sandbox = await lease.boot(abort.signal, (record, s) => this.bootCold(record, image, s, (socket) => (agent = socket)));
    const vmm = this.vmm(sandbox.record);
    // Firecracker would close the connection in the snapshot anyway; closing it first, and
    // waiting until Firecracker has closed its side, means the guest's bridge for it has ended
    // before the snapshot rather than in the restored VM, where it would race the next one.
    sandbox.channel.close(new GuestError("EPIPE", "closed for the snapshot"));
    await new Promise<void>((resolve) => {
      if (!agent || agent.closed) return resolve();
      const timer = setTimeout(resolve, 2000);
      agent.once("close", () => (clearTimeout(timer), resolve()));
    });
    agent?.destroy();
    await new Promise((r) => setTimeout(r, 100)); // the bridge's process exiting after its socket closed
    if (vmm.jail) {
      await sendAll(vmm.api, snapshotCreatePlan("/vm.snap", "/vm.mem"), abort.signal);
      moveFile(join(vmm.root, "vm.mem"), memory);
      moveFile(join(vmm.root, "vm.snap"), state);
      for (const f of [memory, state]) chownSync(f, vmm.jail.uid, vmm.jail.gid);
    } else {
      await sendAll(vmm.api, snapshotCreatePlan(state, memory), abort.signal);
    }
  }

  destroy(record: SandboxRecord): Promise<void> {
    return destroyProcessSandbox(this.env, record);
  }

  async probe(signal?: AbortSignal): Promise<ProbeResult> {
    const no = (reason: string, version?: string): ProbeResult => ({ backend: this.backend, usable: false, reason, ...(version && { version }) });
    const fc = this.env.firecracker();
    if (!fc) {
      return no(
        process.env.IRONCLAW_FIRECRACKER
          ? `IRONCLAW_FIRECRACKER=${process.env.IRONCLAW_FIRECRACKER} is not an executable file`
          : "Firecracker is not installed (no `firecracker` on PATH; see docs/backends.md)",
      );
    }
    const version = (await run(fc, ["--version"]).catch(() => ({ stdout: "firecracker (version unknown)" }))).stdout.split("\n")[0]!.trim();
    if (!existsSync("/dev/kvm")) return no("Firecracker needs KVM and /dev/kvm is missing (no hardware virtualisation, or the kvm module is not loaded)", version);
    try {
      accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    } catch {
      return no("Firecracker needs KVM and /dev/kvm is not usable by this user (add it to the kvm group)", version);
    }
    const image = this.env.image();
    if (!image) return no("no guest image for this version of IronClaw (ironclaw image build)", version);
    if (!isElf(image.kernel)) return no("the guest image has no uncompressed kernel (install lz4, then ironclaw image build --force)", version);
    if ((await this.env.kvmBoots()) === false) {
      return no("KVM does not boot a guest kernel here: /dev/kvm exists, but the KVM boot probe did not reach userspace (a PVM host?)", version);
    }
    const jail = this.env.jailer(fc);
    const bounded = AbortSignal.any([AbortSignal.timeout(PROBE_BOOT_MS), ...(signal ? [signal] : [])]);
    const result = await probeDriver(this, `${version}${jail ? `, jailer ${jail.jailer}` : ""}`, bounded);
    if (!result.usable && bounded.aborted && !signal?.aborted) {
      return { ...result, reason: `no guest agent within ${PROBE_BOOT_MS / 1000} s of starting Firecracker (does KVM work here?)` };
    }
    return result;
  }
}
