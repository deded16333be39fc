// The emulator is attack surface too: a QEMU device-model bug must land an attacker in a jail,
// not in host root. Checked from the host while real VMs run: QEMU's ids, its seccomp sandbox,
// its namespaces and what its root shows, its sockets and the snapshots it makes and restores,
// and that it still dies with IronClaw. Under TCG each boot takes seconds: few VMs, much asked.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findBwrap } from "../../actors/sandbox/bubblewrap.driver.ts";
import { findImage, imageInputs } from "../../actors/sandbox/guest-image.ts";
import { isAlive, processStartTime } from "../../actors/sandbox/host-process.ts";
import { kvmProbeArgv, PROBE_REACHED_USERSPACE } from "../../actors/sandbox/kvm-probe.ts";
import { PROBE_IDS, QEMU_SANDBOX, reachableImage } from "../../actors/sandbox/qemu-jail.ts";
import { findQemu, vmDir } from "../../actors/sandbox/qemu.driver.ts";
import type { Sandbox, SandboxRecord } from "../../actors/sandbox/sandbox-driver.ts";
import { driver, env, withSandbox } from "../support/backends.ts";
import { ID_LOCK_DIR } from "../../actors/sandbox/sandbox-ids.ts";

const image = findImage(imageInputs(env));
const qemu = findQemu();
const bwrap = findBwrap();
const ready = qemu !== null && bwrap !== null && image !== null;
if (!ready && process.env.CI) throw new Error("QEMU, bubblewrap or the guest image is missing: run the README's set-up (it builds the image)");
if (!ready) console.warn("skipping qemu confinement tests: QEMU, bubblewrap or the guest image (ironclaw image build) is missing");

const asRoot = process.getuid?.() === 0;
/** A memory size no other test file snapshots with, so this file's snapshot is its own. */
const LIMITS = { memoryMiB: 352, pidsMax: 128 };
const SNAPSHOTS = () => process.env.IRONCLAW_SNAPSHOT_PATH!;

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
  } catch {
    return [];
  }
}

/** The QEMU process under `root` (the sandbox binary IronClaw started: bubblewrap, then its reaper). */
function emulatorUnder(root: number): number | null {
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || !cmdline(pid)[0]?.endsWith("qemu-system-x86_64")) continue;
    for (let p: number | null = pid; p !== null && p > 1; p = parentOf(p)) if (p === root) return pid;
  }
  return null;
}

function statusField(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return line!.slice(field.length + 1).trim();
}

/** Users who can log in (a real shell): none of them may own a VM's sockets. */
function loginUids(): Set<number> {
  return new Set(
    readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .filter((f) => f.length >= 7 && !/(nologin|false|sync)$/.test(f[6]!))
      .map((f) => Number(f[2])),
  );
}

/** What every jailed emulator must show the host; returns its uid. */
function expectConfined(pid: number): number {
  const [ruid, euid, suid, fsuid] = statusField(pid, "Uid").split(/\s+/).map(Number);
  const [rgid, egid, sgid, fsgid] = statusField(pid, "Gid").split(/\s+/).map(Number);
  for (const id of [ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid]) expect(id).not.toBe(0);
  expect(new Set([ruid, euid, suid, fsuid]).size).toBe(1);
  expect(statusField(pid, "CapEff")).toBe("0000000000000000");
  expect(statusField(pid, "CapBnd")).toBe("0000000000000000");
  expect(statusField(pid, "NoNewPrivs")).toBe("1");
  expect(statusField(pid, "Seccomp")).toBe("2"); // QEMU's filter is in force, on every thread

  const argv = cmdline(pid);
  const sandbox = argv.indexOf("-sandbox");
  expect(sandbox).toBeGreaterThan(0);
  expect(argv[sandbox + 1]).toBe(QEMU_SANDBOX[1]);
  for (const deny of ["obsolete=deny", "elevateprivileges=deny", "spawn=deny", "resourcecontrol=deny"]) expect(argv[sandbox + 1]).toContain(deny);
  // No network device: none asked for, and none by default.
  expect(argv.filter((a) => a === "-netdev" || a === "-net")).toEqual([]);
  expect(argv[argv.indexOf("-nic") + 1]).toBe("none");
  expect(argv.filter((a) => /virtio-net|e1000|rtl8139|vhost/.test(a))).toEqual([]);

  for (const ns of ["mnt", "pid", "net", "ipc", "uts"]) expect(readlinkSync(`/proc/${pid}/ns/${ns}`)).not.toBe(readlinkSync(`/proc/self/ns/${ns}`));
  // Its root holds QEMU's runtime, the image and its own directory, nothing of the host's.
  const root = `/proc/${pid}/root`;
  for (const path of ["/root", "/home", "/etc/shadow", "/etc/passwd", "/tmp", "/proc/1", "/sys/kernel"]) expect(existsSync(join(root, path))).toBe(false);
  for (const entry of readdirSync(root)) expect(["usr", "bin", "sbin", "lib", "lib64", "dev", "image", "vm"]).toContain(entry);
  expect(readdirSync(join(root, "image")).sort()).toEqual(expect.arrayContaining(["initrd", "kernel"]));
  return ruid!;
}

/** Alive and not yet a zombie (a zombie waits for its parent to collect it, and runs nothing). */
function running(who: { pid: number; start: string }): boolean {
  return isAlive(who) && !readFileSync(`/proc/${who.pid}/stat`, "utf8").includes(") Z ");
}

/** Whether the sandbox's id block is still held for it (a freed block may already be another's). */
function heldBy(record: SandboxRecord): boolean {
  if (!record.ids) return false;
  const lock = join(ID_LOCK_DIR, `idblock-${record.ids.index}.lock`);
  return existsSync(lock) && readFileSync(lock, "utf8").includes(`"${record.id}"`);
}

function expectOwnerOnly(path: string, uid: number): void {
  const stat = statSync(path);
  expect(stat.uid).toBe(uid);
  expect(stat.mode & 0o077).toBe(0);
}

describe.skipIf(!ready)("qemu's emulator is jailed", () => {
  it("runs as the sandbox's own unprivileged ids, in namespaces of its own, with seccomp on, no network device and owner-only sockets", async () => {
    let held: SandboxRecord | undefined;
    await withSandbox(
      "qemu",
      async (sandbox) => {
        const record = sandbox.record;
        held = record;
        if (asRoot) expect(heldBy(record)).toBe(true);
        const pid = emulatorUnder(record.process!.pid);
        expect(pid).not.toBeNull();
        const uid = expectConfined(pid!);
        if (asRoot) expect(uid).toBe(record.ids!.uidBase);
        else expect(uid).toBe(process.getuid!());
        if (asRoot) expect(loginUids().has(uid)).toBe(false);
        expect(sandbox.isolation).toContain(`emulator jailed (host uid ${uid}`);
        // Killable as before: the emulator is in the sandbox's cgroup and in IronClaw's process group for it.
        if (record.cgroup) {
          expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain(record.id);
          // Nothing of the sandbox runs as host root: bubblewrap's monitor and reaper are the VM's uid too.
          const members = readFileSync(join(record.cgroup.dirs.at(-1)!, "cgroup.procs"), "utf8")
            .split("\n")
            .filter(Boolean)
            .map(Number);
          expect(members).toContain(record.process!.pid);
          for (const member of members) expect(statusField(member, "Uid").split(/\s+/).map(Number)).toEqual([uid, uid, uid, uid]);
          expect(cmdline(record.process!.pid)[0]).toBe(bwrap);
        }
        expect(Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[2])).toBe(record.process!.pid);

        // The host connects to sockets only the VM's ids (and root) can: owner-only, not a login user's.
        for (const name of ["agent.sock", "qmp.sock", "console.log"]) expectOwnerOnly(join(vmDir(record), name), uid);
        expect(statSync(vmDir(record)).mode & 0o777).toBe(0o700);
        expect(statSync(record.workDir).mode & 0o077).toBe(0);

        // The guest still works, and has no network either.
        let out = "";
        await sandbox.channel.exec({ argv: ["sh", "-c", "ls /sys/class/net; uname -r"] }, (_, d) => (out += d));
        expect(out.trim().split("\n")).toEqual(["lo", image!.kernelRelease]);
      },
      LIMITS,
    );
    expect(heldBy(held!)).toBe(false); // destroy freed the VM's ids
  });

  it("snapshots owner-only, restores them into other VMs' jails under other ids, and the jail dies with its parent", async () => {
    await driver("qemu").warm!(LIMITS);
    const snapshots = readdirSync(SNAPSHOTS()).filter((f) => f.includes(`-m${LIMITS.memoryMiB}-`));
    expect(snapshots).toHaveLength(1);
    // Guest memory: IronClaw's alone (QEMU streamed it to IronClaw, which wrote it), in a directory of its own.
    expectOwnerOnly(join(SNAPSHOTS(), snapshots[0]!), process.getuid!());
    expect(statSync(join(SNAPSHOTS(), snapshots[0]!)).mode & 0o777).toBe(0o600);
    expect(statSync(SNAPSHOTS()).mode & 0o077).toBe(0);

    const uids: number[] = [];
    let killed: SandboxRecord | undefined;
    const check = async (sandbox: Sandbox) => {
      expect(sandbox.isolation).toContain("restored from a snapshot");
      const pid = emulatorUnder(sandbox.record.process!.pid)!;
      uids.push(expectConfined(pid));
      // The snapshot reached QEMU as a descriptor IronClaw opened; QEMU was given no path to it.
      expect(cmdline(pid).join(" ")).toContain("-incoming fd:3");
      expect(cmdline(pid).join(" ")).not.toContain(SNAPSHOTS());
      let out = "";
      await sandbox.channel.exec({ argv: ["uname", "-r"] }, (_, d) => (out += d));
      expect(out.trim()).toBe(image!.kernelRelease);
      return pid;
    };
    await withSandbox(
      "qemu",
      async (a) => {
        await check(a);
        await withSandbox(
          "qemu",
          async (b) => {
            const pid = await check(b);
            // IronClaw SIGKILLed is its sandbox binary's parent gone: bubblewrap's reaper, then QEMU, follow.
            process.kill(b.record.process!.pid, "SIGKILL");
            const emulator = { pid, start: processStartTime(pid)! };
            await b.exited;
            for (let i = 0; i < 500 && running(emulator); i++) await new Promise((r) => setTimeout(r, 10));
            expect(running(emulator)).toBe(false);
            killed = b.record;
          },
          LIMITS,
        );
        // Destroyed from its record alone, as the reaper does after a crash: its ids are free again.
        expect(heldBy(killed!)).toBe(false);
      },
      LIMITS,
    );
    if (asRoot) expect(new Set(uids).size).toBe(2); // two VMs at once, two uids
  });

  it("jails the KVM boot probe the same way (run here under TCG where there is no KVM)", async () => {
    const kvmArgv = kvmProbeArgv(qemu!, bwrap!, image!, "kvm", PROBE_IDS);
    expect(kvmArgv).toEqual(expect.arrayContaining(["--dev-bind", "/dev/kvm", "--unshare-net", "--unshare-pid", `--reuid=${PROBE_IDS.uid}`, ...QEMU_SANDBOX, "-nic", "none"]));

    const argv = kvmProbeArgv(qemu!, bwrap!, asRoot ? reachableImage(image!) : image!, "tcg");
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "ignore"], detached: true });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      let pid: number | null = null;
      for (let i = 0; i < 500 && pid === null; i++) {
        pid = emulatorUnder(child.pid!);
        if (pid === null) await new Promise((r) => setTimeout(r, 10));
      }
      expect(pid).not.toBeNull();
      // QEMU turns its sandbox on as it parses its options, a moment after exec.
      for (let i = 0; i < 500 && statusField(pid!, "Seccomp") !== "2"; i++) await new Promise((r) => setTimeout(r, 5));
      const uid = expectConfined(pid!);
      expect(uid).toBe(asRoot ? PROBE_IDS.uid : process.getuid!());
      for (let i = 0; i < 3000 && !PROBE_REACHED_USERSPACE.test(out); i++) await new Promise((r) => setTimeout(r, 10));
      expect(out).toMatch(PROBE_REACHED_USERSPACE); // the jail holds what the probe's boot needs
    } finally {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // gone already
      }
      await exited;
    }
  });
});
