// "Does KVM really work here?", asked once for every VM backend: /dev/kvm can exist on hosts
// where a stock kernel hangs under it (a PVM host), so only a real boot answers. QEMU runs the
// probe because it can boot the image's kernel straight to its first process without any
// device set-up; its answer holds for Firecracker too, which has no software fallback. The
// probe's QEMU is jailed like every VM's (actors/sandbox/qemu-jail.ts), so its answer is also whether
// KVM works from inside the jail.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { GuestImage } from "./guest-image.ts";
import { hasParentDeathSignal } from "./host-process.ts";
import { findBwrap } from "./bubblewrap.driver.ts";
import { JAIL_IMAGE, jailArgv, type JailImageFiles, type JailIds, KVM_DEVICE, PROBE_IDS, reachableImage } from "./qemu-jail.ts";
import { findQemu, kernelTuning, microvmArgv } from "./qemu.driver.ts";

/** What the probe's kernel prints once its first process, /bin/true, runs (or has exited: the panic). */
export const PROBE_REACHED_USERSPACE = /Attempted to kill init|Run \/bin\/true/;

/**
 * The probe's jailed command line: the image's kernel and initramfs only (no root filesystem, no
 * sockets: the console is QEMU's stdout), as `ids` (IronClaw as root) or IronClaw's own user;
 * `image`'s files must be where `ids` can read them (reachableImage).
 * `accel` is "tcg" only for tests that run the same jail where there is no KVM; the kernel then
 * gets the TSC rate as every TCG boot does (kernelTuning), or it may hang calibrating it.
 */
export function kvmProbeArgv(
  qemu: string,
  bwrap: string,
  image: JailImageFiles,
  accel: "kvm" | "tcg" = "kvm",
  ids: JailIds | null = process.getuid?.() === 0 ? PROBE_IDS : null,
): string[] {
  const append = ["console=ttyS0", "panic=-1", "rdinit=/bin/true", ...(accel === "tcg" ? kernelTuning() : [])].join(" ");
  const emulator = [...microvmArgv(qemu, accel, 128, { kernel: JAIL_IMAGE.kernel, initrd: JAIL_IMAGE.initrd, append }), "-serial", "stdio"];
  return jailArgv({ bwrap, image: { kernel: image.kernel, initrd: image.initrd }, vmDir: null, kvm: accel === "kvm", ids }, emulator);
}

/**
 * Whether KVM really works here: /dev/kvm can exist on hosts where a stock kernel hangs under it
 * (a PVM host), so boot the guest image's kernel under KVM and see it reach userspace. Without
 * bubblewrap there is no jail, and IronClaw runs no QEMU outside one: the answer is then no.
 */
export async function kvmBoots(image: GuestImage, timeoutMs = 4000): Promise<boolean> {
  const qemu = findQemu();
  const bwrap = findBwrap();
  if (!qemu || !bwrap || !existsSync(KVM_DEVICE)) return false;
  const ids = process.getuid?.() === 0 ? PROBE_IDS : null;
  let files: JailImageFiles;
  try {
    files = ids ? reachableImage(image) : image;
  } catch {
    return false; // the image cannot be shown to the probe's ids: no jail, so no probe
  }
  return new Promise((resolve) => {
    // Short-lived, but a QEMU of ours all the same: it dies with IronClaw (parent-death signal).
    const argv = [...(hasParentDeathSignal() ? ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"] : []), ...kvmProbeArgv(qemu, bwrap, files, "kvm", ids)];
    // A process group of its own (no controlling terminal for the jail to reach), killed whole.
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "ignore"], detached: true });
    let out = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      resolve(ok);
    };
    // The kernel panics ("Attempted to kill init") once /bin/true, its first userspace process, exits.
    child.stdout.on("data", (d) => {
      out += d;
      if (PROBE_REACHED_USERSPACE.test(out)) done(true);
    });
    child.once("exit", () => done(PROBE_REACHED_USERSPACE.test(out)));
    child.once("error", () => done(false));
    const timer = setTimeout(() => done(false), timeoutMs);
  });
}

const probing = new Map<string, Promise<"kvm" | "tcg">>();

/**
 * KVM or TCG for QEMU: "kvm" only where a real boot under it works (kvmBoots). Decided once per
 * image, QEMU and /dev/kvm, and remembered in `cacheFile`; "tcg" when there is no image to probe with.
 */
export function kvmAccelerator(image: GuestImage | null, cacheFile: string): Promise<"kvm" | "tcg"> {
  if (!image) return Promise.resolve("tcg");
  // Slots warming together must not each boot a probe VM.
  let answer = probing.get(image.id);
  if (!answer) {
    answer = probeAccelerator(image, cacheFile).finally(() => probing.delete(image.id));
    probing.set(image.id, answer);
  }
  return answer;
}

async function probeAccelerator(image: GuestImage, cacheFile: string): Promise<"kvm" | "tcg"> {
  // "jailed": an answer from before QEMU ran in its jail (qemu-jail.ts) says nothing of KVM inside it.
  const key = `${image.id}|${findQemu()}|${existsSync(KVM_DEVICE)}|jailed`;
  try {
    const cached = JSON.parse(readFileSync(cacheFile, "utf8")) as { key: string; accel: "kvm" | "tcg" };
    if (cached.key === key) return cached.accel;
  } catch {
    // no cache yet
  }
  const accel = (await kvmBoots(image)) ? "kvm" : "tcg";
  try {
    writeFileSync(cacheFile, JSON.stringify({ key, accel }), { mode: 0o600 });
  } catch {
    // an unwritable cache only costs a probe next time
  }
  return accel;
}
