// A CPU limit as the kernel's CFS bandwidth control takes it: so many microseconds of CPU time
// per period, for the whole cgroup. Its own module, free of any I/O, so the CLI can check a
// `--cpus` value against the same bounds without loading the cgroup code.

/** The period: the kernel's default and Docker's, so `--cpus` means what it means there. */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses a quota under 1 ms. */
const MIN_QUOTA_US = 1000;
/** The smallest CPU limit the kernel takes at this period: 0.01 CPUs. */
export const MIN_CPUS = MIN_QUOTA_US / CPU_PERIOD_US;

/** CPUs → microseconds of CPU time per period (cpu.max's first field, v1's cpu.cfs_quota_us). */
export function cpuQuotaUs(cpus: number): number {
  return Math.max(MIN_QUOTA_US, Math.round(cpus * CPU_PERIOD_US));
}
