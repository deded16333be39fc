// The jail's command line, read as the kernel and bubblewrap will: who QEMU runs as, what it
// sees, and what the host hands it. The real jail is booted in tests/integration/qemu-confinement.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kvmProbeArgv } from "../../actors/sandbox/kvm-probe.ts";
import { JAIL_IMAGE, jailArgv, kvmGroup, PROBE_IDS, QEMU_SANDBOX, reachableImage, SNAPSHOT_FD, type QemuJail } from "../../actors/sandbox/qemu-jail.ts";
import { readableByAnyone } from "../../actors/sandbox/shared-runtime.ts";

const image = { kernel: "/images/v1/vmlinux", initrd: "/images/v1/initramfs.cpio.gz", rootfs: "/images/v1/rootfs.ext4" };
const jail: QemuJail = { bwrap: "/usr/bin/bwrap", image, vmDir: "/run/ic/s1-ab/vm", kvm: false, ids: { uid: 1_114_112, gid: 1_114_112 } };
const emulator = ["/usr/bin/qemu-system-x86_64", "-M", "microvm,accel=tcg", "-kernel", JAIL_IMAGE.kernel];
const scratch = mkdtempSync(join(tmpdir(), "qemu-jail-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The words after `flag`, as bubblewrap or setpriv reads them. */
const after = (argv: string[], flag: string, n = 1) => argv.slice(argv.indexOf(flag) + 1, argv.indexOf(flag) + 1 + n);

describe("QEMU's jail", () => {
  it("drops to the VM's ids with no capabilities before bubblewrap starts, and turns QEMU's sandbox on", () => {
    const argv = jailArgv(jail, emulator);
    // After the host-side shell that sets the umask and opens the snapshot: setpriv, then bubblewrap.
    expect(argv.slice(5, 15)).toEqual([
      "/usr/bin/setpriv",
      "--reuid=1114112",
      "--regid=1114112",
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--pdeathsig",
      "KILL",
      "--",
    ]);
    expect(argv[15]).toBe("/usr/bin/bwrap");
    const end = argv.indexOf("--", 16);
    expect(argv.slice(end + 1)).toEqual([...emulator, ...QEMU_SANDBOX]);
    expect(QEMU_SANDBOX[1]).toBe("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    const options = argv.slice(16, end);
    expect(options).toEqual(expect.arrayContaining(["--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--clearenv"]));
  });

  it("shows QEMU the image read-only, its own directory read-write, /usr, and nothing else of the host", () => {
    const argv = jailArgv(jail, emulator);
    const options = argv.slice(16, argv.indexOf("--", 16));
    const mounts: string[][] = [];
    for (let i = 0; i < options.length; i++) {
      if (["--bind", "--ro-bind", "--dev-bind"].includes(options[i]!)) mounts.push(options.slice(i, i + 3));
    }
    const ro = mounts.filter((m) => m[0] === "--ro-bind").map((m) => m[2]);
    expect(mounts.filter((m) => m[0] !== "--ro-bind")).toEqual([["--bind", jail.vmDir, "/vm"]]);
    expect(new Set(ro)).toEqual(new Set(["/usr", ...ro.filter((t) => /^\/(bin|sbin|lib|lib64)$/.test(t!)), JAIL_IMAGE.kernel, JAIL_IMAGE.initrd, JAIL_IMAGE.rootfs]));
    expect(after(options, "--ro-bind", 2)).toEqual(["/usr", "/usr"]);
    expect(options.slice(options.indexOf(image.rootfs) - 1, options.indexOf(image.rootfs) + 2)).toEqual(["--ro-bind", image.rootfs, JAIL_IMAGE.rootfs]);
    expect(after(options, "--remount-ro")).toEqual(["/"]);
    expect(options).not.toContain("--proc");
    expect(options.join(" ")).not.toMatch(/(^| )\/(etc|home|root|tmp|sys|proc)(\/| |$)/);
  });

  it("binds /dev/kvm only for KVM, with the device's group when that is what opens it, never root's", () => {
    expect(jailArgv(jail, emulator)).not.toContain("/dev/kvm");
    const kvm = jailArgv({ ...jail, kvm: true }, emulator);
    expect(after(kvm, "--dev-bind", 2)).toEqual(["/dev/kvm", "/dev/kvm"]);

    const device = join(scratch, "kvm");
    writeFileSync(device, "");
    chmodSync(device, 0o666);
    expect(kvmGroup(device)).toBeNull(); // anyone may open it: no group needed
    chmodSync(device, 0o600);
    expect(kvmGroup(device)).toBeNull();
    chmodSync(device, 0o660);
    if (process.getuid?.() === 0) {
      expect(kvmGroup(device)).toBeNull(); // root:root 0660: QEMU does not get group 0
      chownSync(device, 0, 995);
      expect(kvmGroup(device)).toBe(995);
    }
    expect(kvmGroup(join(scratch, "missing"))).toBeNull();
  });

  it("without ids to drop to (IronClaw is not root), runs the same jail as IronClaw's own user", () => {
    const argv = jailArgv({ ...jail, ids: null }, emulator);
    expect(argv[5]).toBe("/usr/bin/bwrap");
    expect(argv).toContain("--unshare-user");
    expect(argv).not.toContain("/usr/bin/setpriv");
    expect(argv.slice(argv.indexOf("--", 6) + 1)).toEqual([...emulator, ...QEMU_SANDBOX]);
  });

  it("stages an image its ids cannot reach by linking it where anyone can read it, once, and drops stale stagings", () => {
    const images = join(scratch, "images");
    const closed = join(images, "v1-abc");
    mkdirSync(closed, { recursive: true, mode: 0o700 });
    chmodSync(images, 0o700); // as root's cache, under /root
    for (const name of ["vmlinux", "initrd", "rootfs"]) writeFileSync(join(closed, name), name, { mode: 0o644 });
    const guest = { id: "v1-abc", dir: closed, kernel: join(closed, "vmlinux"), initrd: join(closed, "initrd"), rootfs: join(closed, "rootfs") };
    const staged = join(scratch, "staged");
    chmodSync(scratch, 0o755); // as /var/cache
    if (process.getuid?.() !== 0) return; // staging checks its cache is root's
    const files = reachableImage(guest, staged);
    expect(files.kernel.startsWith(`${staged}/v1-abc-`)).toBe(true);
    expect(statSync(files.kernel).ino).toBe(statSync(guest.kernel).ino); // a link: no copy of the image
    expect(readableByAnyone(files.rootfs)).toBe(true);
    expect(reachableImage(guest, staged)).toEqual(files);
    // Rebuilt in place: staged anew, the old staging dropped. Pruned: dropped too.
    rmSync(guest.kernel);
    writeFileSync(guest.kernel, "rebuilt", { mode: 0o644 });
    const again = reachableImage(guest, staged);
    expect(again.kernel).not.toBe(files.kernel);
    expect(readdirSync(staged)).toEqual([basename(dirname(again.kernel))]);
    mkdirSync(join(staged, "v1-gone-0123456789ab"));
    reachableImage(guest, staged);
    expect(readdirSync(staged)).toEqual([basename(dirname(again.kernel))]);
    // An image anyone can read is used where it is.
    chmodSync(images, 0o755);
    chmodSync(closed, 0o755);
    expect(reachableImage(guest, staged).kernel).toBe(guest.kernel);
  });

  it("opens the snapshot on the host side, as the descriptor QEMU restores from, under an owner-only umask", () => {
    const snapshot = join(scratch, "vm.vmstate");
    writeFileSync(snapshot, "guest memory", { mode: 0o600 });
    const host = jailArgv({ ...jail, snapshot }, emulator).slice(0, 5);
    expect(host[4]).toBe(snapshot);
    // Run the host-side part for real, with a command in place of bubblewrap.
    const seen = execFileSync(host[0]!, [...host.slice(1), "/bin/sh", "-c", `umask; cat <&${SNAPSHOT_FD}`], { encoding: "utf8" });
    expect(seen.split("\n").slice(0, 2)).toEqual(["0077", "guest memory"]);
    // No snapshot: nothing is opened.
    const cold = jailArgv(jail, emulator).slice(0, 5);
    expect(execFileSync(cold[0]!, [...cold.slice(1), "/bin/sh", "-c", `[ -e /proc/self/fd/${SNAPSHOT_FD} ] && echo open || echo closed`], { encoding: "utf8" }).trim()).toBe(
      "closed",
    );
    // A snapshot that cannot be opened ends it before anything starts.
    expect(() => execFileSync(cold[0]!, [...cold.slice(1, 4), join(scratch, "gone"), "/bin/echo", "started"], { encoding: "utf8", stdio: "pipe" })).toThrow();
  });

  it("jails the KVM boot probe the same way: kernel and initramfs only, console on stdout, no network device", () => {
    const argv = kvmProbeArgv("/usr/bin/qemu-system-x86_64", "/usr/bin/bwrap", image, "kvm", PROBE_IDS);
    expect(argv.slice(5, 7)).toEqual(["/usr/bin/setpriv", `--reuid=${PROBE_IDS.uid}`]);
    expect(argv).toEqual(expect.arrayContaining(["--dev-bind", "/dev/kvm", "--unshare-net", "-nic", "none", "-serial", "stdio", ...QEMU_SANDBOX]));
    expect(argv).not.toContain(image.rootfs);
    expect(argv).not.toContain("/vm");
    expect(argv.filter((a) => a === "-netdev" || a === "-net" || a === "-device")).toEqual([]);
    expect(argv[argv.indexOf("-M") + 1]).toBe("microvm,accel=kvm");
  });
});
