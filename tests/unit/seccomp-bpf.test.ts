// The namespace backend's seccomp filter, run instruction by instruction on a classic-BPF
// interpreter against the system calls a sandboxed command could make, on both architectures.
// Expected results are written out here, not derived from the compiler, so a change to the
// policy or the layout that lets a call through fails a test.
import { describe, expect, it } from "vitest";
import { seccompProgram, type SeccompArch } from "../../actors/sandbox/seccomp-bpf.ts";
import { ARGUMENT_RULES, REFUSED } from "../../actors/sandbox/seccomp-policy.ts";
import { SYSCALL_NUMBERS } from "../../actors/sandbox/syscall-numbers.ts";
import { decode, describeAction, run, verify, type SockFilter } from "../support/bpf-interpreter.ts";

const ARCHES: readonly SeccompArch[] = ["x64", "arm64"];
const AUDIT_ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 } as const;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_ARM = 0x40000028;
const AUDIT_ARCH_RISCV64 = 0xc00000f3;

const ALLOW = "allow";
const EPERM = "errno 1";
const ENOSYS = "errno 38";
const KILL = "kill_process";

/** What Docker's default profile refuses, and what issue 11 adds (io_uring, ptrace, file handles, clock setters). */
const MUST_REFUSE = [
  "unshare",
  "setns",
  "mount",
  "umount2",
  "pivot_root",
  "move_mount",
  "open_tree",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "mount_setattr",
  "chroot",
  "keyctl",
  "add_key",
  "request_key",
  "bpf",
  "perf_event_open",
  "userfaultfd",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "open_by_handle_at",
  "name_to_handle_at",
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "create_module",
  "get_kernel_syms",
  "query_module",
  "uselib",
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  "pidfd_getfd",
  "kcmp",
  "process_madvise",
  "acct",
  "swapon",
  "swapoff",
  "reboot",
  "syslog",
  "quotactl",
  "quotactl_fd",
  "lookup_dcookie",
  "nfsservctl",
  "vhangup",
  "fanotify_init",
  "sethostname",
  "setdomainname",
  "settimeofday",
  "clock_settime",
  "clock_adjtime",
  "adjtimex",
  "iopl",
  "ioperm",
  "mbind",
  "set_mempolicy",
  "get_mempolicy",
  "set_mempolicy_home_node",
  "move_pages",
  "migrate_pages",
  "_sysctl",
  "ustat",
  "sysfs",
];

/** Calls a node, python, git or gcc process makes all the time. */
const EVERYDAY = [
  "read",
  "write",
  "openat",
  "close",
  "mmap",
  "munmap",
  "mprotect",
  "brk",
  "futex",
  "execve",
  "exit_group",
  "wait4",
  "rt_sigaction",
  "rt_sigprocmask",
  "pipe2",
  "dup3",
  "epoll_create1",
  "epoll_ctl",
  "epoll_pwait",
  "eventfd2",
  "getrandom",
  "statx",
  "newfstatat",
  "getdents64",
  "fcntl",
  "prctl",
  "set_robust_list",
  "rseq",
  "sched_getaffinity",
  "madvise",
  "memfd_create",
  "socketpair",
  "connect",
  "bind",
  "kill",
  "tgkill",
  "prlimit64",
  "uname",
  "getcwd",
  "chdir",
  "mkdirat",
  "unlinkat",
  "renameat2",
  "fchmodat",
  "fchownat",
  "utimensat",
  "readlinkat",
  "faccessat2",
  "close_range",
  "pidfd_open",
  "landlock_create_ruleset",
  "seccomp",
  "sched_yield",
  "clock_gettime",
  "clock_nanosleep",
];

// linux/sched.h
const CLONE_VM = 0x100;
const CLONE_FS = 0x200;
const CLONE_FILES = 0x400;
const CLONE_SIGHAND = 0x800;
const CLONE_VFORK = 0x4000;
const CLONE_THREAD = 0x10000;
const CLONE_NEWNS = 0x20000;
const CLONE_SYSVSEM = 0x40000;
const CLONE_SETTLS = 0x80000;
const CLONE_PARENT_SETTID = 0x100000;
const CLONE_CHILD_CLEARTID = 0x200000;
const CLONE_CHILD_SETTID = 0x1000000;
const CLONE_NEWCGROUP = 0x2000000;
const CLONE_NEWUTS = 0x4000000;
const CLONE_NEWIPC = 0x8000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const SIGCHLD = 17;
/** glibc's pthread_create, fork and vfork */
const THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
const FORK_FLAGS = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD;
const VFORK_FLAGS = CLONE_VM | CLONE_VFORK | SIGCHLD;
const NAMESPACE_FLAGS = { CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET };

const HIGH_WORD = 1n << 32n;

const programs = new Map(ARCHES.map((arch) => [arch, decode(seccompProgram(arch))] as const));
function program(arch: SeccompArch): SockFilter[] {
  return programs.get(arch)!;
}

function nr(arch: SeccompArch, name: string): number {
  const n = SYSCALL_NUMBERS[arch][name];
  if (n === undefined) throw new Error(`${arch} has no ${name}`);
  return n;
}

/** The filter's verdict on one call, in words. */
function verdict(arch: SeccompArch, call: string | number, args: readonly (bigint | number)[] = []): string {
  const number = typeof call === "number" ? call : nr(arch, call);
  return describeAction(run(program(arch), { nr: number, arch: AUDIT_ARCH[arch], args: args.map(BigInt) }));
}

const refusedNames = new Set(REFUSED.flatMap((g) => g.syscalls));

describe("the syscall tables", () => {
  it("match the kernel's numbers on both architectures", () => {
    expect([nr("x64", "read"), nr("x64", "clone"), nr("x64", "keyctl"), nr("x64", "unshare"), nr("x64", "io_uring_setup"), nr("x64", "clone3")]).toEqual([
      0, 56, 250, 272, 425, 435,
    ]);
    expect([
      nr("arm64", "read"),
      nr("arm64", "renameat"),
      nr("arm64", "newfstatat"),
      nr("arm64", "unshare"),
      nr("arm64", "keyctl"),
      nr("arm64", "clone"),
      nr("arm64", "mmap"),
      nr("arm64", "bpf"),
      nr("arm64", "clone3"),
      nr("arm64", "memfd_secret"),
    ]).toEqual([63, 38, 79, 97, 219, 220, 222, 280, 435, 447]);
    // aarch64 has only the *at forms and no 32-bit-offset variants.
    for (const name of ["open", "stat", "fork", "fcntl64", "vm86"]) expect(SYSCALL_NUMBERS.arm64[name]).toBeUndefined();
  });

  it("name every call the policy lists on x86_64, and skip on aarch64 exactly the ones it lacks", () => {
    const listed = [...refusedNames, ...ARGUMENT_RULES.map((r) => r.syscall)];
    expect(listed.filter((name) => SYSCALL_NUMBERS.x64[name] === undefined)).toEqual([]);
    expect(listed.filter((name) => SYSCALL_NUMBERS.arm64[name] === undefined).sort()).toEqual(
      [
        "_sysctl",
        "afs_syscall",
        "create_module",
        "get_kernel_syms",
        "getpmsg",
        "ioperm",
        "iopl",
        "putpmsg",
        "query_module",
        "security",
        "sysfs",
        "tuxcall",
        "uselib",
        "ustat",
        "vserver",
      ].sort(),
    );
  });
});

describe.each(ARCHES)("the seccomp filter on %s", (arch) => {
  it("is a program the kernel accepts, with every jump inside it", () => {
    const insns = program(arch);
    expect(verify(insns)).toEqual([]);
    insns.forEach((insn, pc) => {
      if ((insn.code & 0x07) === 0x05) expect(pc + 1 + Math.max(insn.jt, insn.jf)).toBeLessThan(insns.length);
    });
    expect(seccompProgram(arch).length).toBe(insns.length * 8);
    // ld [4]: the first thing it reads is the architecture.
    expect([...seccompProgram(arch).subarray(0, 8)]).toEqual([0x20, 0, 0, 0, 4, 0, 0, 0]);
  });

  it("kills a call made through any other ABI", () => {
    const other = arch === "x64" ? AUDIT_ARCH.arm64 : AUDIT_ARCH.x64;
    for (const audit of [AUDIT_ARCH_I386, AUDIT_ARCH_ARM, AUDIT_ARCH_RISCV64, other, 0]) {
      expect(describeAction(run(program(arch), { nr: 0, arch: audit }))).toBe(KILL);
      expect(describeAction(run(program(arch), { nr: nr(arch, "getpid"), arch: audit }))).toBe(KILL);
    }
  });

  it("allows everyday calls", () => {
    for (const name of EVERYDAY) expect(`${name}: ${verdict(arch, name)}`).toBe(`${name}: ${ALLOW}`);
  });

  it("refuses every call on the list with EPERM", () => {
    for (const name of MUST_REFUSE) {
      if (SYSCALL_NUMBERS[arch][name] === undefined) continue;
      expect(`${name}: ${verdict(arch, name)}`).toBe(`${name}: ${EPERM}`);
      expect(`${name}: ${verdict(arch, name, [1, 2, 3, 4, 5, 6])}`).toBe(`${name}: ${EPERM}`);
    }
  });

  it("answers clone3 with ENOSYS, so glibc falls back to clone", () => {
    expect(verdict(arch, "clone3")).toBe(ENOSYS);
  });

  it("refuses exactly the policy: every other call of the table is allowed", () => {
    const wrong: string[] = [];
    for (const [name, number] of Object.entries(SYSCALL_NUMBERS[arch])) {
      const want = name === "clone3" ? ENOSYS : refusedNames.has(name) ? EPERM : ALLOW;
      const got = verdict(arch, number);
      if (got !== want) wrong.push(`${name}: ${got}, want ${want}`);
    }
    expect(wrong).toEqual([]);
  });

  it("lets clone make threads and processes but not namespaces", () => {
    expect(verdict(arch, "clone", [THREAD_FLAGS])).toBe(ALLOW);
    expect(verdict(arch, "clone", [FORK_FLAGS])).toBe(ALLOW);
    expect(verdict(arch, "clone", [VFORK_FLAGS])).toBe(ALLOW);
    for (const [name, flag] of Object.entries(NAMESPACE_FLAGS)) {
      expect(`${name}: ${verdict(arch, "clone", [flag])}`).toBe(`${name}: ${EPERM}`);
      expect(`${name}: ${verdict(arch, "clone", [FORK_FLAGS | flag])}`).toBe(`${name}: ${EPERM}`);
      expect(`${name}: ${verdict(arch, "clone", [BigInt(THREAD_FLAGS | flag) | (0xffffn * HIGH_WORD)])}`).toBe(`${name}: ${EPERM}`);
    }
    // The kernel keeps only clone's low 32 flag bits, so bits above them change nothing.
    expect(verdict(arch, "clone", [BigInt(FORK_FLAGS) | (HIGH_WORD * 0x7e02n)])).toBe(ALLOW);
  });

  it("refuses vsock sockets only, whatever the high word", () => {
    for (const domain of [1, 2, 10, 16, 17]) expect(verdict(arch, "socket", [domain, 1, 0])).toBe(ALLOW);
    expect(verdict(arch, "socket", [40, 1, 0])).toBe(EPERM);
    expect(verdict(arch, "socket", [40n | HIGH_WORD, 1, 0])).toBe(EPERM);
  });

  it("lets personality query and set only the ordinary values", () => {
    for (const value of [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]) expect(verdict(arch, "personality", [value])).toBe(ALLOW);
    // ADDR_NO_RANDOMIZE (setarch -R), READ_IMPLIES_EXEC, PER_BSD, PER_SVR4
    for (const value of [0x0040000, 0x0400000, 0x6, 0x04100001]) expect(verdict(arch, "personality", [value])).toBe(EPERM);
    expect(verdict(arch, "personality", [0x0040000n | HIGH_WORD])).toBe(EPERM);
  });

  it("refuses the terminal ioctls that inject input or reach the console, and no others", () => {
    // TCGETS, TCSETS, TIOCGWINSZ, FIONREAD, FIONBIO
    for (const request of [0x5401, 0x5402, 0x5413, 0x541b, 0x5421]) expect(verdict(arch, "ioctl", [0, request])).toBe(ALLOW);
    for (const request of [0x5412, 0x541c]) {
      expect(verdict(arch, "ioctl", [0, request])).toBe(EPERM);
      // ioctl's request is an unsigned int: the kernel drops the high word, so must the filter.
      expect(verdict(arch, "ioctl", [0, BigInt(request) | HIGH_WORD])).toBe(EPERM);
    }
  });

  it("answers calls newer than its table with ENOSYS", () => {
    const highest = Math.max(...Object.values(SYSCALL_NUMBERS[arch]));
    expect(verdict(arch, highest)).not.toBe(ENOSYS);
    // e.g. 457 statmount, 467 open_tree_attr (a mount call), then far beyond
    for (const number of [highest + 1, 457, 467, 1000, 0x3fffffff]) expect(verdict(arch, number)).toBe(ENOSYS);
  });
});

describe("the x32 ABI on x86_64", () => {
  it("is refused: x32 calls carry 0x40000000 in nr under the x86_64 arch value", () => {
    for (const name of ["read", "getpid", "execve"]) expect(verdict("x64", 0x40000000 | nr("x64", name))).toBe(EPERM);
    // x32-only numbers (512 and up: rt_sigaction, ioctl, execve …)
    for (const number of [512, 514, 520, 547]) expect(verdict("x64", 0x40000000 | number)).toBe(EPERM);
  });
});

describe("seccompProgram()", () => {
  it("builds the host's filter by default", () => {
    if (process.arch !== "x64" && process.arch !== "arm64") {
      expect(() => seccompProgram()).toThrow(/no filter for/);
      return;
    }
    expect(seccompProgram().equals(seccompProgram(process.arch))).toBe(true);
  });

  it("stays well inside the kernel's size limit", () => {
    for (const arch of ARCHES) expect(program(arch).length).toBeLessThan(400);
  });
});
