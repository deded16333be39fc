// The qemu backend for real: a micro-VM with its own kernel from the guest image, reached over
// virtio-serial, and nothing of it left on the host afterwards. Under TCG (no usable KVM here)
// each boot takes seconds, so this file boots few VMs and asks much of each.
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findQemu } from "../../actors/sandbox/qemu.driver.ts";
import { isAlive } from "../../actors/sandbox/host-process.ts";
import { findImage, imageInputs } from "../../actors/sandbox/guest-image.ts";
import type { SandboxRecord } from "../../actors/sandbox/sandbox-driver.ts";
import { driver, env, limits, withSandbox } from "../support/backends.ts";

const image = findImage(imageInputs(env));
const ready = findQemu() !== null && image !== null;
if (!ready && process.env.CI) throw new Error("QEMU or the guest image is missing: run the README's set-up (it builds the image)");
if (!ready) console.warn("skipping qemu tests: QEMU or the guest image (ironclaw image build) is missing");

describe.skipIf(!ready)("qemu backend", () => {
  it("boots its own kernel, runs commands through the guest agent, and leaves nothing behind", async () => {
    let record: SandboxRecord | undefined;
    await withSandbox("qemu", async (sandbox) => {
      record = sandbox.record;
      expect(sandbox.hello.kernel).toBe(image!.kernelRelease);
      expect(sandbox.hello.kernel).not.toBe(release());
      expect(sandbox.isolation).toMatch(/^qemu micro-VM \((TCG emulation|KVM), (booted cold|restored from a snapshot)\), guest kernel /);
      let out = "";
      const exit = await sandbox.channel.exec(
        { argv: ["sh", "-c", "uname -r; ls /sys/class/net; echo x > /usr/w && cat /usr/w; grep '^overlay / ' /proc/mounts; exit 4"] },
        (_, d) => (out += d),
      );
      expect(exit.code).toBe(4);
      const [kernel, ...rest] = out.trim().split("\n");
      expect(kernel).toBe(image!.kernelRelease);
      expect(rest).toContain("lo"); // no network device but loopback
      expect(rest.filter((l) => /^(eth|en)/.test(l))).toEqual([]);
      // Writes land in an overlay in guest RAM over the image's read-only root, and die with the VM.
      expect(rest).toContain("x");
      expect(out).toMatch(/^overlay \/ overlay .*lowerdir=/m);
      expect((await sandbox.channel.readFile("/etc/hostname")).toString()).toBe("ironclaw\n");
    });
    expect(isAlive(record!.process!)).toBe(false);
    expect(existsSync(join(record!.workDir, "agent.sock"))).toBe(false);
    expect(existsSync(record!.workDir)).toBe(false);
    for (const dir of record!.cgroup?.dirs ?? []) expect(existsSync(dir)).toBe(false);
    expect(env.store.read(record!.id)).toBeUndefined();
  });

  it("says what to do when no guest image is built", async () => {
    const { QemuDriver } = await import("../../actors/sandbox/qemu.driver.ts");
    const none = new QemuDriver({ ...env, image: () => null, accelerator: async () => "tcg", snapshots: () => ({ dir: "/nonexistent", refreshMs: 1 }) });
    await expect(none.provision({ id: "noimage", backend: "qemu", limits })).rejects.toThrow(/no guest image .*: build one with `ironclaw image build`/);
    expect((await none.probe()).reason).toMatch(/ironclaw image build/);
  });

  it("restores later VMs from one snapshot, each with the right clock and entropy of its own, and boots cold when a snapshot is broken", async () => {
    const d = driver("qemu");
    const snapshotLimits = { memoryMiB: 384, pidsMax: 128 };
    await d.warm!(snapshotLimits);
    const snapshots = readdirSync(process.env.IRONCLAW_SNAPSHOT_PATH!).filter((f) => f.includes("-m384-"));
    expect(snapshots).toHaveLength(1);
    expect(statSync(join(process.env.IRONCLAW_SNAPSHOT_PATH!, snapshots[0]!)).mode & 0o777).toBe(0o600);

    const seen: string[] = [];
    for (let i = 0; i < 2; i++) {
      await withSandbox(
        "qemu",
        async (sandbox) => {
          expect(sandbox.isolation).toContain("restored from a snapshot");
          let out = "";
          await sandbox.channel.exec({ argv: ["sh", "-c", "date +%s; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'"] }, (_, b) => (out += b));
          const [clock, random] = out.trim().split("\n");
          expect(Math.abs(Number(clock) - Date.now() / 1000)).toBeLessThan(5); // set on resume, not frozen at the snapshot
          seen.push(random!);
        },
        snapshotLimits,
      );
    }
    expect(new Set(seen).size).toBe(2); // clones of one snapshot do not share their random stream

    // A snapshot QEMU cannot load is dropped, and the boot goes cold instead of failing.
    writeFileSync(join(process.env.IRONCLAW_SNAPSHOT_PATH!, snapshots[0]!), "not a VM state");
    await withSandbox("qemu", async (sandbox) => expect(sandbox.isolation).toContain("booted cold"), snapshotLimits);
    expect(readdirSync(process.env.IRONCLAW_SNAPSHOT_PATH!).filter((f) => f.includes("-m384-"))).toEqual([]);
  });
});
