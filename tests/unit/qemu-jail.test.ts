// The jail's command line, read as the kernel and bubblewrap will: who QEMU runs as, what it
// sees, and what the host hands it. The real jail is booted in tests/integration/qemu-confinement.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kvmProbeArgv } from "../../actors/kvm-probe.ts";
import { JAIL_IMAGE, jailArgv, kvmGroup, PROBE_IDS, QEMU_SANDBOX, SNAPSHOT_FD, type QemuJail } from "../../actors/qemu-jail.ts";

const image = { kernel: "/images/v1/vmlinux", initrd: "/images/v1/initramfs.cpio.gz", rootfs: "/images/v1/rootfs.ext4" };
const jail: QemuJail = { bwrap: "/usr/bin/bwrap", image, vmDir: "/run/ic/s1-ab/vm", kvm: false, ids: { uid: 1_114_112, gid: 1_114_112 } };
const emulator = ["/usr/bin/qemu-system-x86_64", "-M", "microvm,accel=tcg", "-kernel", JAIL_IMAGE.kernel];
const scratch = mkdtempSync(join(tmpdir(), "qemu-jail-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The words after `flag`, as bubblewrap or setpriv reads them. */
const after = (argv: string[], flag: string, n = 1) => argv.slice(argv.indexOf(flag) + 1, argv.indexOf(flag) + 1 + n);

describe("QEMU's jail", () => {
  it("drops to the VM's ids with no capabilities after bubblewrap has built the jail, and turns QEMU's sandbox on", () => {
    const argv = jailArgv(jail, emulator);
    const bwrap = argv.indexOf("/usr/bin/bwrap");
    const end = argv.indexOf("--", bwrap);
    expect(bwrap).toBe(5); // after the host-side shell that sets the umask and opens the snapshot
    // Everything after bubblewrap's options runs in the jail: setpriv first, then QEMU.
    expect(argv.slice(end + 1, end + 9)).toEqual([
      "/usr/bin/setpriv", "--reuid=1114112", "--regid=1114112", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
    ]);
    expect(argv.slice(end + 9)).toEqual([...emulator, ...QEMU_SANDBOX]);
    expect(QEMU_SANDBOX[1]).toBe("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    // As root, bubblewrap makes the mounts (it can reach the image) but no user namespace.
    const options = argv.slice(bwrap + 1, end);
    expect(options).not.toContain("--unshare-user");
    expect(options).toEqual(expect.arrayContaining(["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--clearenv"]));
  });

  it("shows QEMU the image read-only, its own directory read-write, /usr, and nothing else of the host", () => {
    const argv = jailArgv(jail, emulator);
    const options = argv.slice(6, argv.indexOf("--", 6));
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

  it("without ids to drop to (IronClaw is not root), runs bubblewrap in a user namespace and no setpriv", () => {
    const argv = jailArgv({ ...jail, ids: null }, emulator);
    expect(argv).toContain("--unshare-user");
    expect(argv).not.toContain("/usr/bin/setpriv");
    expect(argv.slice(argv.indexOf("--", 6) + 1)).toEqual([...emulator, ...QEMU_SANDBOX]);
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
    expect(execFileSync(cold[0]!, [...cold.slice(1), "/bin/sh", "-c", `[ -e /proc/self/fd/${SNAPSHOT_FD} ] && echo open || echo closed`], { encoding: "utf8" }).trim()).toBe("closed");
    // A snapshot that cannot be opened ends it before anything starts.
    expect(() => execFileSync(cold[0]!, [...cold.slice(1, 4), join(scratch, "gone"), "/bin/echo", "started"], { encoding: "utf8", stdio: "pipe" })).toThrow();
  });

  it("jails the KVM boot probe the same way: kernel and initramfs only, console on stdout, no network device", () => {
    const argv = kvmProbeArgv("/usr/bin/qemu-system-x86_64", "/usr/bin/bwrap", image, "kvm", PROBE_IDS);
    const end = argv.indexOf("--", 6);
    expect(argv.slice(end + 1, end + 3)).toEqual(["/usr/bin/setpriv", `--reuid=${PROBE_IDS.uid}`]);
    expect(argv).toEqual(expect.arrayContaining(["--dev-bind", "/dev/kvm", "--unshare-net", "-nic", "none", "-serial", "stdio", ...QEMU_SANDBOX]));
    expect(argv).not.toContain(image.rootfs);
    expect(argv).not.toContain("/vm");
    expect(argv.filter((a) => a === "-netdev" || a === "-net" || a === "-device")).toEqual([]);
    expect(argv[argv.indexOf("-M") + 1]).toBe("microvm,accel=kvm");
  });
});
