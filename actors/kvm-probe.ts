// "Does KVM really work here?", asked once for every VM backend: /dev/kvm can exist on hosts
// where a stock kernel hangs under it (a PVM host), so only a real boot answers. QEMU runs the
// probe because it can boot the image's kernel straight to its first process without any
// device set-up; its answer holds for Firecracker too, which has no software fallback.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { GuestImage } from "./guest-image.ts";
import { hasParentDeathSignal } from "./host-process.ts";
import { findQemu } from "./qemu.driver.ts";

/**
 * Whether KVM really works here: /dev/kvm can exist on hosts where a stock kernel hangs under it
 * (a PVM host), so boot the guest image's kernel under KVM and see it reach userspace.
 */
export async function kvmBoots(image: GuestImage, timeoutMs = 4000): Promise<boolean> {
  const qemu = findQemu();
  if (!qemu || !existsSync("/dev/kvm")) return false;
  return new Promise((resolve) => {
    // Short-lived, but a QEMU of ours all the same: it dies with IronClaw (parent-death signal).
    const argv = [
      ...(hasParentDeathSignal() ? ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"] : []),
      qemu,
      "-M", "microvm,accel=kvm", "-cpu", "host", "-m", "128", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
      "-kernel", image.kernel, "-initrd", image.initrd, "-append", "console=ttyS0 panic=-1 rdinit=/bin/true", "-serial", "stdio",
    ];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "ignore"] });
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
    child.once("error", () => done(false));
    const timer = setTimeout(() => done(false), timeoutMs);
  });
}
