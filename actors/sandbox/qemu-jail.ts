// QEMU's jail, in the spirit of Firecracker's jailer: a device-model bug must not be host root.
// As root, IronClaw drops to the VM's own unprivileged host ids first (setpriv: no capabilities,
// empty bounding set, no_new_privs), and only then starts bubblewrap, which makes a user
// namespace and new mount, pid, net, ipc, uts and cgroup namespaces holding only the guest
// image's three files (read-only), the VM's own directory (its sockets and console log),
// /dev/kvm when KVM is used, and /usr for QEMU's libraries and firmware; QEMU then runs with its
// own seccomp sandbox. Nothing of the sandbox runs as host root: bubblewrap's monitor, its pid-1
// reaper and QEMU are all the VM's uid.
//
// bubblewrap, so unprivileged, resolves its binds by path under the VM's ids: the VM's work dir
// is made where they can reach it (provisionProcessSandbox's reachable work dir), and an image
// in a directory closed to others (root's cache) is linked into a root-owned, world-readable
// cache first (reachableImage).
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { GuestImage } from "./guest-image.ts";
import { readableByAnyone } from "./shared-runtime.ts";
import { SandboxError } from "../../core/errors.ts";

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
 * in its own user, pid, net, ipc and mount namespaces that uid reaches nothing of the host's.
 */
export const PROBE_IDS: JailIds = { uid: 65534, gid: 65534 };

/** The image files QEMU is shown: host paths its ids can read (see reachableImage). */
export interface JailImageFiles {
  readonly kernel: string;
  readonly initrd: string;
  /** The probe boots without one. */
  readonly rootfs?: string;
}

export interface QemuJail {
  readonly bwrap: string;
  /** The guest image's files on the host, shown read-only at JAIL_IMAGE. */
  readonly image: JailImageFiles;
  /** The host directory shown read-write at JAIL_VM_DIR; null when QEMU needs none (the probe). */
  readonly vmDir: string | null;
  readonly kvm: boolean;
  /** Ids to drop to (IronClaw is root); null: IronClaw's own. */
  readonly ids: JailIds | null;
  /** A snapshot to restore: opened by the host as SNAPSHOT_FD before anything drops privileges. */
  readonly snapshot?: string;
}

const SETPRIV = "/usr/bin/setpriv";

/** Merged-usr hosts have these as links into /usr; others have real directories, bound read-only. */
const USR_LINKS = ["/bin", "/sbin", "/lib", "/lib64"];

/**
 * Runs as IronClaw's user, before anything drops privileges: an owner-only umask (QEMU's sockets
 * and console log are 0600 from the start), and the snapshot, if any, opened as SNAPSHOT_FD (one
 * that cannot be opened ends the shell, as a failed redirection of `exec` does). POSIX sh.
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
 * the jail. Only the first shell runs as IronClaw; setpriv drops before bubblewrap starts.
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
        // Set after the ids change (the kernel clears it when they do): bubblewrap dies with
        // IronClaw, its reaper with it, and with the reaper QEMU's whole pid namespace.
        "--pdeathsig",
        "KILL",
        "--",
      ]
    : [];
  return [
    "/bin/sh",
    "-c",
    OPEN_THEN_EXEC,
    "sh",
    jail.snapshot ?? "",
    ...drop,
    jail.bwrap,
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--clearenv",
    "--ro-bind",
    "/usr",
    "/usr",
    ...usrLinks(),
    "--dev",
    "/dev",
    ...(jail.kvm ? ["--dev-bind", KVM_DEVICE, KVM_DEVICE] : []),
    // bubblewrap makes mount points under the umask (077): QEMU must be able to pass this one.
    "--perms",
    "0755",
    "--dir",
    "/image",
    "--ro-bind",
    jail.image.kernel,
    JAIL_IMAGE.kernel,
    "--ro-bind",
    jail.image.initrd,
    JAIL_IMAGE.initrd,
    ...(jail.image.rootfs ? ["--ro-bind", jail.image.rootfs, JAIL_IMAGE.rootfs] : []),
    ...(jail.vmDir ? ["--bind", jail.vmDir, JAIL_VM_DIR] : []),
    // Nothing else in the jail is writable: the root and its mount points are QEMU's to read only.
    "--remount-ro",
    "/",
    "--chdir",
    "/",
    "--",
    ...emulator,
    ...QEMU_SANDBOX,
  ];
}

/** Where images closed to other uids are linked for the jail: root-owned, world-readable, as shared-runtime.ts's cache. */
export const STAGED_IMAGES = "/var/cache/ironclaw/images";

type StageableImage = Pick<GuestImage, "id" | "dir" | "kernel" | "initrd" | "rootfs">;

/**
 * A directory only root can change, with every ancestor so: what the staged files may live in.
 * A root-owned sticky ancestor (/tmp) is fine: nobody else can rename or remove root's entries
 * in it, and an entry someone else made first is not root's, so refused.
 */
function ensureRootOnlyDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (let at = dir; ; at = dirname(at)) {
    const stat = lstatSync(at);
    if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022 && !(stat.mode & 0o1000))) {
      throw new SandboxError(
        "EBACKEND",
        `${at} must be a directory owned by root that only root can write: remove it, so that IronClaw can stage its guest image under ${STAGED_IMAGES}`,
      );
    }
    if (at === "/") return;
  }
}

/** A hard link, or false where the filesystem will not make one (another filesystem, or refused). */
function tryLink(source: string, target: string): boolean {
  try {
    linkSync(source, target);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EXDEV" || (err as NodeJS.ErrnoException).code === "EPERM") return false;
    throw err;
  }
}

/**
 * `source` at `target`: a hard link (free) when the file is world-readable already (the cached
 * images are 0644: a link shares the mode), else a world-readable copy. Nothing in it is secret.
 */
function stage(source: string, target: string): string {
  if (existsSync(target)) return target;
  const tmp = `${target}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  if ((statSync(source).mode & 0o004) === 0 || !tryLink(source, tmp)) {
    copyFileSync(source, tmp);
    chmodSync(tmp, 0o644);
  }
  renameSync(tmp, target);
  return target;
}

/**
 * The image's files where unprivileged ids can read them by path: as they are when anyone may,
 * else linked (or, across filesystems, copied once) into STAGED_IMAGES, keyed by the files'
 * identity so a rebuilt image is staged anew. Staged images whose original was rebuilt or pruned
 * are removed here, or their links would keep the old files' space.
 */
export function reachableImage(image: StageableImage, root = STAGED_IMAGES): Required<JailImageFiles> {
  const files = { kernel: image.kernel, initrd: image.initrd, rootfs: image.rootfs };
  if (Object.values(files).every(readableByAnyone)) return files;
  const key = createHash("sha256");
  for (const file of Object.values(files)) {
    const s = statSync(file);
    key.update(`${file}\0${s.dev}\0${s.ino}\0${s.size}\0${s.mtimeMs}\0`);
  }
  const dir = join(root, `${image.id}-${key.digest("hex").slice(0, 12)}`);
  ensureRootOnlyDir(dir);
  // Whatever IronClaw's umask: the jail's ids pass through both.
  for (const d of [root, dir]) chmodSync(d, 0o755);
  for (const name of readdirSync(root)) {
    const id = /^(.+)-[0-9a-f]{12}$/.exec(name)?.[1];
    if (!id || name === basename(dir)) continue;
    if (id === image.id || !existsSync(join(dirname(image.dir), id))) rmSync(join(root, name), { recursive: true, force: true });
  }
  const staged = {
    kernel: stage(files.kernel, join(dir, "kernel")),
    initrd: stage(files.initrd, join(dir, "initrd")),
    rootfs: stage(files.rootfs, join(dir, "rootfs")),
  };
  if (!Object.values(staged).every(readableByAnyone)) {
    throw new SandboxError("EBACKEND", `${dir} is not readable by other users (a directory above it is closed): QEMU's unprivileged ids could not read the guest image there`);
  }
  return staged;
}
