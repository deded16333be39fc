// What of /proc a namespace sandbox may not write or read, as data. The sandbox's ids are not
// the host's (sandbox-ids.ts), so the kernel's own permission checks already refuse most of
// this; these mounts are the second wall, the one Docker and runc put up for every container.
// Each path is covered only where the host kernel has it (bubblewrap cannot mount onto a path
// that does not exist).

export interface ProcCover {
  readonly path: string;
  readonly reason: string;
}

/**
 * Bound read-only from the host's /proc. Sysctls under /proc/sys resolve against the namespaces
 * of the process that reads them (net, uts, ipc, user), so the sandbox still sees its own values.
 */
export const PROC_READ_ONLY: readonly ProcCover[] = [
  { path: "/proc/sys", reason: "sysctls: a writable one (core_pattern, modprobe, …) turns into code run by the host kernel" },
  { path: "/proc/sysrq-trigger", reason: "reboots, crashes or freezes the host with one byte" },
  { path: "/proc/irq", reason: "interrupt affinity of the host's devices" },
  { path: "/proc/bus", reason: "PCI and USB device configuration space" },
  { path: "/proc/fs", reason: "file system servers' controls (nfsd and the like)" },
];

/** Covered by the host's /dev/null: they read as empty. */
export const PROC_MASKED: readonly ProcCover[] = [
  { path: "/proc/kcore", reason: "the host's physical memory as an ELF core" },
  { path: "/proc/keys", reason: "every key the kernel holds that the reader may view, with descriptions" },
  { path: "/proc/key-users", reason: "per-user key quotas: who on the host uses keys" },
  { path: "/proc/timer_list", reason: "host timers with task names and addresses (KASLR and side channels)" },
  { path: "/proc/sched_debug", reason: "every host task's name and scheduling state" },
  { path: "/proc/kpagecount", reason: "physical page usage (Rowhammer-style attacks)" },
  { path: "/proc/kpageflags", reason: "physical page flags (Rowhammer-style attacks)" },
  { path: "/proc/kpagecgroup", reason: "physical page to cgroup map" },
];
