// QEMU's jail, in the spirit of Firecracker's jailer: a device-model bug must not be host root.
// bubblewrap, started by IronClaw (as root when IronClaw is), builds a mount namespace that holds
// only the guest image's three files (read-only), the VM's own directory (its sockets and console
// log), /dev/kvm when KVM is used, and /usr for QEMU's libraries and firmware; new pid, net, ipc,
// uts and cgroup namespaces; then setpriv drops to the VM's own unprivileged host ids with no
// capabilities and no_new_privs, and execs QEMU with its own seccomp sandbox.
//
// Why root sets up the mounts and only QEMU drops: the image lives in the user's cache (under
// /root, closed to other uids) and the run directory is owner-only, so bubblewrap running under
// the VM's ids could not resolve them, and copying ≈ 230 MB of image per version to where anyone
// can read it is the alternative. What stays uid 0 is bubblewrap itself, with no capabilities:
// its monitor outside the jail and its pid-1 reaper inside. They run no code the guest can
// influence, and QEMU's uid can neither signal nor trace them.
import { lstatSync, readlinkSync, statSync } from "node:fs";

/** Where the jail shows QEMU its files: fixed, so every VM's command line is the same. */
export const JAIL_IMAGE = { kernel: "/image/kernel", initrd: "/image/initrd", rootfs: "/image/rootfs" } as const;
/** The VM's own directory inside the jail (its sockets and console log), bound from the host. */
export const JAIL_VM_DIR = "/vm";
/**
 * The descriptor a restored VM reads its snapshot from. The host opens the file and QEMU inherits
 * it (`-incoming fd:3`): the emulator needs neither the path nor any right to the file, and the
 * seccomp sandbox forbids the shell that `exec:` migration would start.
 */
export const SNAPSHOT_FD = 3;

/**
 * QEMU's own seccomp filter (`-sandbox on`) with every optional refusal: obsolete system calls,
 * set*uid/set*gid, starting processes (fork, execve), and scheduler, affinity and priority changes.
 */
export const QEMU_SANDBOX = ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"] as const;

/** Host ids the emulator runs as. */
export interface JailIds {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Who runs the KVM boot probe when IronClaw is root: `nobody`. The probe has no sandbox record
 * to hold an id block with, and it owns nothing (no sockets or files: its console is a pipe);
 * in its own pid, net, ipc and mount namespaces that uid reaches nothing of the host's.
 */
export const PROBE_IDS: JailIds = { uid: 65534, gid: 65534 };

export interface QemuJail {
  readonly bwrap: string;
  /** The guest image's files on the host, shown read-only at JAIL_IMAGE (the probe needs no root filesystem). */
  readonly image: { readonly kernel: string; readonly initrd: string; readonly rootfs?: string };
  /** The host directory shown read-write at JAIL_VM_DIR; null when QEMU needs none (the probe). */
  readonly vmDir: string | null;
  readonly kvm: boolean;
  /** Ids to drop to (IronClaw is root); null: IronClaw's own, in a user namespace bubblewrap makes. */
  readonly ids: JailIds | null;
  /** A snapshot to restore: opened by the host as SNAPSHOT_FD before anything drops privileges. */
  readonly snapshot?: string;
}

const SETPRIV = "/usr/bin/setpriv";

/** Merged-usr hosts have these as links into /usr; others have real directories, bound read-only. */
const USR_LINKS = ["/bin", "/sbin", "/lib", "/lib64"];

/**
 * Runs as IronClaw's user, before bubblewrap: an owner-only umask (QEMU's sockets and console
 * log are 0600 from the start), and the snapshot, if any, opened as SNAPSHOT_FD (a snapshot that
 * cannot be opened ends the shell, as a failed redirection of `exec` does). POSIX sh.
 */
const OPEN_THEN_EXEC = `umask 077; [ -z "$1" ] || exec ${SNAPSHOT_FD}<"$1"; shift; exec "$@"`;

function usrLinks(): string[] {
  return USR_LINKS.flatMap((path) => {
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (stat?.isSymbolicLink()) return ["--symlink", readlinkSync(path), path];
    return stat?.isDirectory() ? ["--ro-bind", path, path] : [];
  });
}

export const KVM_DEVICE = "/dev/kvm";

/**
 * The supplementary group that lets the emulator's ids open /dev/kvm: none when anyone may (mode
 * 0666), the device's group when its group may (Debian: root:kvm 0660), else none (KVM then fails
 * to open and the boot probe answers TCG). Never group 0: that would hand QEMU root's group.
 */
export function kvmGroup(device = KVM_DEVICE): number | null {
  const stat = statSync(device, { throwIfNoEntry: false });
  if (!stat || (stat.mode & 0o006) === 0o006) return null;
  return (stat.mode & 0o060) === 0o060 && stat.gid !== 0 ? stat.gid : null;
}

/**
 * The command line that runs `emulator` (QEMU's own argv, with paths as the jail shows them) in
 * the jail. Everything before bubblewrap's `--` runs as IronClaw; QEMU runs as `jail.ids`.
 */
export function jailArgv(jail: QemuJail, emulator: readonly string[]): string[] {
  const group = jail.kvm ? kvmGroup() : null;
  const drop = jail.ids
    ? [
        SETPRIV,
        `--reuid=${jail.ids.uid}`,
        `--regid=${jail.ids.gid}`,
        ...(group === null ? ["--clear-groups"] : [`--groups=${group}`]),
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
      ]
    : [];
  return [
    "/bin/sh", "-c", OPEN_THEN_EXEC, "sh", jail.snapshot ?? "",
    jail.bwrap,
    // Without ids to drop to, IronClaw is not root: bubblewrap then needs a user namespace.
    ...(jail.ids ? [] : ["--unshare-user"]),
    "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
    // QEMU dies with IronClaw through bubblewrap's pid-1 reaper, not by a parent-death signal of
    // its own: the kernel clears that when setpriv changes the ids, and bubblewrap's monitor
    // (uid 0 without capabilities) may not signal another uid. The reaper is uid 0 too: the
    // monitor's signal reaches it, and its death takes the pid namespace, QEMU included.
    "--die-with-parent",
    "--clearenv",
    "--ro-bind", "/usr", "/usr",
    ...usrLinks(),
    "--dev", "/dev",
    ...(jail.kvm ? ["--dev-bind", KVM_DEVICE, KVM_DEVICE] : []),
    // bubblewrap makes mount points under the umask (077): QEMU's uid must be able to pass this one.
    "--perms", "0755", "--dir", "/image",
    "--ro-bind", jail.image.kernel, JAIL_IMAGE.kernel,
    "--ro-bind", jail.image.initrd, JAIL_IMAGE.initrd,
    ...(jail.image.rootfs ? ["--ro-bind", jail.image.rootfs, JAIL_IMAGE.rootfs] : []),
    ...(jail.vmDir ? ["--bind", jail.vmDir, JAIL_VM_DIR] : []),
    // Nothing else in the jail is writable: the root and its mount points are QEMU's to read only.
    "--remount-ro", "/",
    "--chdir", "/",
    "--",
    ...drop,
    ...emulator,
    ...QEMU_SANDBOX,
  ];
}
