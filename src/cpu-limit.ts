// How much CPU a sandbox may use, as Docker's --cpus means it: CPUs' worth of time, fractions
// allowed (1.5 = one and a half cores), enforced as a cgroup quota (actors/sandbox/cgroup.ts). The bounds
// and the default live here, once, for the CLI, the settings and the daemon.
import { availableParallelism } from "node:os";
import { MIN_CPUS } from "../actors/sandbox/cpu-quota.ts";

/** The CPUs this process may run on (its affinity mask, as Docker's NumCPU): a quota above it means nothing. */
export function hostCpus(): number {
  return availableParallelism();
}

/**
 * All cores but one, at least one: a hostile busy loop (or an agent's runaway build) cannot take
 * the whole machine from the user, IronClaw and the other sandboxes, and a one-core machine is
 * not left with nothing.
 */
export function defaultCpus(cores = hostCpus()): number {
  return Math.max(1, cores - 1);
}

/** Why `cpus` cannot be a CPU limit here, or null. */
export function cpusProblem(cpus: number, cores = hostCpus()): string | null {
  if (Number.isFinite(cpus) && cpus >= MIN_CPUS && cpus <= cores) return null;
  return `must be a number of CPUs from ${MIN_CPUS} to ${cores} (this machine has ${cores})`;
}

/** A decimal as a user types it ("2", "0.5", ".5", "-1" to be refused by range); not hex, exponents or Infinity. */
export const CPUS_TEXT = /^\s*-?(\d+(\.\d*)?|\.\d+)\s*$/;

export function parseCpus(text: string, cores = hostCpus()): { readonly cpus: number } | { readonly problem: string } {
  const cpus = CPUS_TEXT.test(text) ? Number(text) : Number.NaN;
  const problem = cpusProblem(cpus, cores);
  return problem ? { problem } : { cpus };
}
