// The system calls the namespace backend refuses to a sandboxed command, as data. The filter
// is a denylist: everything not named here is allowed, because the sandbox must run node,
// python3, git, gcc and npm unchanged, and an allowlist would have to track every call their
// libcs and runtimes may make. The list covers at least what Docker's default profile refuses
// to a container without extra capabilities, plus io_uring, ptrace and the clock setters.
//
// Two guards sit in front of these rules (actors/sandbox/seccomp-bpf.ts): a call from another ABI
// than the host's 64-bit one (i386, x32, arm32) is never let through, and a call newer than
// the syscall table (actors/sandbox/syscall-numbers.ts) is answered ENOSYS, so that a kernel newer than
// this list cannot open a hole in it (say, a new mount call); libcs treat ENOSYS as "not
// here" and fall back. Calls of i386 only (vm86, vm86old, socketcall, ipc) are therefore not
// listed: the i386 ABI is killed whole.
//
// Not refused, on purpose: landlock_* and seccomp (they only take privileges away), and
// memfd_secret, pidfd_open and pidfd_send_signal (Docker allows them; they reach nothing a
// process in the sandbox cannot reach already).

export type Errno = "EPERM" | "ENOSYS";

export interface RefusedGroup {
  readonly reason: string;
  readonly syscalls: readonly string[];
  readonly errno: Errno;
}

/**
 * What an argument rule looks at. Every test reads only the low 32 bits of the argument: each
 * argument ruled on here is a 32-bit `int`/`unsigned int` in the kernel (or, for clone, is cut
 * to its low 32 bits by the kernel), so the kernel itself ignores the high word. Requiring the
 * high word to be zero as well would let a caller slip past a refusal by setting a bit there.
 */
export type ArgumentTest =
  /** refused when any of these bits is set */
  | { readonly anyBitOf: number }
  /** refused when the argument is one of these values */
  | { readonly oneOf: readonly number[] }
  /** refused unless the argument is one of these values */
  | { readonly noneOf: readonly number[] };

export interface ArgumentRule {
  readonly reason: string;
  readonly syscall: string;
  /** 0-based argument index, as in seccomp_data.args */
  readonly arg: number;
  readonly refuseWhen: ArgumentTest;
  readonly errno: Errno;
}

export const REFUSED: readonly RefusedGroup[] = [
  {
    reason: "new namespaces (and with a user namespace every capability in it) or joining another's: the way to nf_tables and most unprivileged kernel exploits",
    syscalls: ["unshare", "setns"],
    errno: "EPERM",
  },
  {
    reason: "clone3 passes its flags in memory a filter cannot read; ENOSYS makes glibc fall back to clone, whose flags the rule below checks",
    syscalls: ["clone3"],
    errno: "ENOSYS",
  },
  {
    reason: "changing the mount tree or the root: the sandbox's view of the filesystem is fixed by bubblewrap",
    syscalls: ["mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"],
    errno: "EPERM",
  },
  {
    reason: "kernel keyrings are not namespaced: they could reach the keys of the user running IronClaw",
    syscalls: ["keyctl", "add_key", "request_key"],
    errno: "EPERM",
  },
  {
    reason: "BPF programs and perf events run code in, or read from, the host kernel",
    syscalls: ["bpf", "perf_event_open"],
    errno: "EPERM",
  },
  {
    reason: "userfaultfd lets a process stall the kernel mid-copy, the usual way to win a kernel race",
    syscalls: ["userfaultfd"],
    errno: "EPERM",
  },
  {
    reason: "io_uring is a large kernel surface with a long record of exploits, and its operations bypass this filter; libuv and others fall back to ordinary calls",
    syscalls: ["io_uring_setup", "io_uring_enter", "io_uring_register"],
    errno: "EPERM",
  },
  {
    reason: "file handles open files by inode, around the mount tree (the 'shocker' container escape)",
    syscalls: ["open_by_handle_at", "name_to_handle_at"],
    errno: "EPERM",
  },
  {
    reason: "loading kernel code: modules, a new kernel, a.out libraries",
    syscalls: ["init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "uselib", "create_module", "get_kernel_syms", "query_module"],
    errno: "EPERM",
  },
  {
    reason: "reaching into another process (the guest agent holds the channel to the host): tracing, its memory, its file descriptors",
    syscalls: ["ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise"],
    errno: "EPERM",
  },
  {
    reason: "host-wide administration: accounting, swap, reboot, the kernel log, quotas, terminals, whole-filesystem watches, names",
    syscalls: ["acct", "swapon", "swapoff", "reboot", "syslog", "quotactl", "quotactl_fd", "lookup_dcookie", "vhangup", "fanotify_init", "sethostname", "setdomainname"],
    errno: "EPERM",
  },
  {
    reason: "the clock is the host's: setting or adjusting it is not namespaced",
    syscalls: ["settimeofday", "clock_settime", "clock_adjtime", "adjtimex"],
    errno: "EPERM",
  },
  {
    reason: "raw I/O port access",
    syscalls: ["iopl", "ioperm"],
    errno: "EPERM",
  },
  {
    reason: "NUMA memory policy and page migration act on the host's memory nodes",
    syscalls: ["mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node", "move_pages", "migrate_pages"],
    errno: "EPERM",
  },
  {
    reason: "obsolete or never implemented: refused so a kernel that gives a number a meaning again cannot surprise us",
    syscalls: ["_sysctl", "nfsservctl", "ustat", "sysfs", "afs_syscall", "getpmsg", "putpmsg", "security", "tuxcall", "vserver"],
    errno: "EPERM",
  },
];

// Flag values from linux/sched.h, linux/socket.h, linux/personality.h and asm-generic/ioctls.h
// (the same on x86_64 and aarch64).
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const AF_VSOCK = 40;
const PER_LINUX = 0x0;
const PER_LINUX32 = 0x8;
const UNAME26 = 0x20000;
const PERSONALITY_QUERY = 0xffffffff;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

export const ARGUMENT_RULES: readonly ArgumentRule[] = [
  {
    reason: "clone may make threads and processes, but not new namespaces (flags are the first argument on x86_64 and aarch64)",
    syscall: "clone",
    arg: 0,
    refuseWhen: { anyBitOf: CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP },
    errno: "EPERM",
  },
  {
    reason: "vsock sockets talk to the hypervisor and other VMs, around the empty network namespace",
    syscall: "socket",
    arg: 0,
    refuseWhen: { oneOf: [AF_VSOCK] },
    errno: "EPERM",
  },
  {
    reason: "personality may only be queried or set to the ordinary Linux values: the others turn off address-space randomisation or change syscall behaviour",
    syscall: "personality",
    arg: 0,
    refuseWhen: { noneOf: [PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, PERSONALITY_QUERY] },
    errno: "EPERM",
  },
  {
    reason: "TIOCSTI pushes input into a terminal and TIOCLINUX reaches the console: a terminal shared with the host would run the command's keystrokes",
    syscall: "ioctl",
    arg: 1,
    refuseWhen: { oneOf: [TIOCSTI, TIOCLINUX] },
    errno: "EPERM",
  },
];
