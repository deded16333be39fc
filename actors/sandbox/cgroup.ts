// Memory, process-count and CPU limits through cgroups, v1 (per-controller hierarchies) or v2
// (unified). Sandboxes join their cgroup before the sandbox binary starts (see host-process),
// so nothing they fork can escape it; teardown kills whatever is left in it and removes it.
import { access, mkdir, readdir, readFile, rmdir, writeFile, constants } from "node:fs/promises";
import { existsSync, readFileSync, type Dirent } from "node:fs";
import { join } from "node:path";
import { CPU_PERIOD_US, cpuQuotaUs, MIN_CPUS } from "./cpu-quota.ts";
import { SandboxError } from "../../core/errors.ts";

/** Where the kernel's cgroup filesystems are; tests pass a fake root of their own instead. */
export const CGROUP_ROOT = "/sys/fs/cgroup";
/** The parent of all sandbox cgroups; overridable so a test run can keep to its own subtree. */
const group = () => process.env.IRONCLAW_CGROUP_PARENT || "ironclaw";

export interface CgroupLimits {
  readonly memoryBytes: number;
  readonly pidsMax: number;
  /** CPUs' worth of time per period; absent: no quota. */
  readonly cpus?: number;
}

/**
 * What a sandbox's cgroup is made of: the directories to join, kill and remove. On v1 they are
 * memory, then cpu when a quota is in force, then pids (the first and last keep their places
 * for records written before the cpu hierarchy was used); find a controller's file with
 * `controllerFile`, not by position.
 */
export interface CgroupSet {
  readonly version: 1 | 2;
  readonly dirs: readonly string[];
  /** The CPU quota in force, in CPUs; absent when none was asked for or the host has no cpu controller. */
  readonly cpus?: number;
}

/** Whether a per-sandbox CPU quota can be set here, and if not, why (for doctor and exec's warning). */
export interface CpuSupport {
  readonly usable: boolean;
  readonly detail: string;
}

export type CgroupSupport =
  | { readonly usable: true; readonly version: 1 | 2; readonly detail: string; readonly cpu: CpuSupport }
  | { readonly usable: false; readonly version: 1 | 2 | null; readonly detail: string; readonly cpu: CpuSupport };

function cgroupVersion(root: string): 1 | 2 | null {
  if (existsSync(join(root, "cgroup.controllers"))) return 2;
  if (existsSync(join(root, "memory")) && existsSync(join(root, "pids"))) return 1;
  return null;
}

async function writable(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function v2Controllers(root: string): Promise<string[]> {
  return (await readFile(join(root, "cgroup.controllers"), "utf8")).split(/\s+/).filter(Boolean);
}

/**
 * The cpu controller, apart from memory and pids: a host without it (or, on v1, without CFS
 * bandwidth control) still gets memory and process limits, and is told the CPU limit is not in force.
 */
async function cpuSupport(version: 1 | 2, root: string): Promise<CpuSupport> {
  if (version === 1) {
    // Usually a link to the combined cpu,cpuacct hierarchy; either way, cpu/ is where the quota files are.
    const dir = join(root, "cpu");
    if (!existsSync(join(dir, "cpu.cfs_quota_us"))) return { usable: false, detail: `no cpu cgroup hierarchy with CFS bandwidth control at ${dir}` };
    return (await writable(dir)) ? { usable: true, detail: `CFS quota in ${dir}` } : { usable: false, detail: `${dir} is not writable (run as root)` };
  }
  if (!(await v2Controllers(root)).includes("cpu")) return { usable: false, detail: "cgroup v2 lacks the cpu controller" };
  return (await writable(root)) ? { usable: true, detail: "cpu controller (cpu.max)" } : { usable: false, detail: `cgroup v2 root ${root} is not writable` };
}

export async function detectCgroups(root = CGROUP_ROOT): Promise<CgroupSupport> {
  const version = cgroupVersion(root);
  if (version === null) {
    const detail = `no memory and pids cgroup controllers under ${root}`;
    return { usable: false, version, detail, cpu: { usable: false, detail } };
  }
  const cpu = await cpuSupport(version, root);
  // One line for doctor, exec --json and the probe: which limits hold, and why the CPU one may not.
  const made = (v: 1 | 2) => `cgroup v${v} (memory, pids${cpu.usable ? ", cpu" : `; no CPU limit: ${cpu.detail}`})`;
  const refused = (detail: string): CgroupSupport => ({ usable: false, version, detail, cpu: { usable: false, detail } });
  if (version === 1) {
    const ok = (await writable(join(root, "memory"))) && (await writable(join(root, "pids")));
    return ok ? { usable: true, version, detail: made(1), cpu } : refused(`cgroup v1 hierarchies under ${root} are not writable (run as root)`);
  }
  const controllers = await v2Controllers(root);
  if (!controllers.includes("memory") || !controllers.includes("pids")) return refused("cgroup v2 lacks the memory or pids controller");
  return (await writable(root))
    ? { usable: true, version, detail: made(2), cpu }
    : refused(`cgroup v2 root ${root} is not writable (run as root, or give IronClaw a delegated cgroup)`);
}

function v1Dirs(root: string, id: string) {
  return { memory: join(root, "memory", group(), id), cpu: join(root, "cpu", group(), id), pids: join(root, "pids", group(), id) };
}

/**
 * Every directory the cgroup for sandbox `id` may have: what teardown and the reaper remove when
 * a record holds no list (a provision that crashed mid-way). On v1 the cpu directory is named
 * whether or not it was made: removing one that does not exist costs nothing.
 */
export function cgroupDirs(version: 1 | 2, id: string, root = CGROUP_ROOT): string[] {
  if (version === 2) return [join(root, group(), id)];
  const { memory, cpu, pids } = v1Dirs(root, id);
  return [memory, cpu, pids];
}

async function enableV2Controllers(dir: string, wanted: readonly string[]): Promise<void> {
  const have = (await readFile(join(dir, "cgroup.subtree_control"), "utf8")).split(/\s+/);
  const missing = wanted.filter((c) => !have.includes(c));
  if (missing.length) await writeFile(join(dir, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
}

export async function createCgroup(version: 1 | 2, id: string, limits: CgroupLimits, root = CGROUP_ROOT): Promise<CgroupSet> {
  if (limits.cpus !== undefined && !(Number.isFinite(limits.cpus) && limits.cpus >= MIN_CPUS)) {
    throw new SandboxError("ELIMITS", `a CPU limit must be at least ${MIN_CPUS} CPUs, got ${limits.cpus}`);
  }
  // Asked for and possible here; otherwise the sandbox runs without a quota and its record says so.
  const cpus = limits.cpus !== undefined && (await cpuSupport(version, root)).usable ? limits.cpus : undefined;
  if (version === 1) {
    const { memory, cpu, pids } = v1Dirs(root, id);
    await mkdir(memory, { recursive: true });
    await mkdir(pids, { recursive: true });
    await writeFile(join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
    // Without this the limit only covers RAM and a hog simply swaps.
    if (existsSync(join(memory, "memory.memsw.limit_in_bytes"))) {
      await writeFile(join(memory, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes));
    }
    await writeFile(join(pids, "pids.max"), String(limits.pidsMax));
    if (cpus === undefined) return { version, dirs: [memory, pids] };
    await mkdir(cpu, { recursive: true });
    await writeFile(join(cpu, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
    await writeFile(join(cpu, "cpu.cfs_quota_us"), String(cpuQuotaUs(cpus)));
    return { version, dirs: [memory, cpu, pids], cpus };
  }
  const [dir] = cgroupDirs(2, id, root) as [string];
  const controllers = ["memory", "pids", ...(cpus === undefined ? [] : ["cpu"])];
  await enableV2Controllers(root, controllers);
  await mkdir(join(root, group()), { recursive: true });
  await enableV2Controllers(join(root, group()), controllers);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "memory.max"), String(limits.memoryBytes));
  if (existsSync(join(dir, "memory.swap.max"))) await writeFile(join(dir, "memory.swap.max"), "0");
  await writeFile(join(dir, "pids.max"), String(limits.pidsMax));
  if (cpus === undefined) return { version, dirs: [dir] };
  await writeFile(join(dir, "cpu.max"), `${cpuQuotaUs(cpus)} ${CPU_PERIOD_US}`);
  return { version, dirs: [dir], cpus };
}

/**
 * The contents of a controller's file (`memory.events`, `pids.events`, `cpu.stat` …) in whichever
 * of the set's directories has it, or null: on v1 each controller has its own directory.
 */
export async function controllerFile(set: CgroupSet, file: string): Promise<string | null> {
  for (const dir of set.dirs) {
    try {
      return await readFile(join(dir, file), "utf8");
    } catch {
      // not this controller's directory
    }
  }
  return null;
}

async function members(dir: string): Promise<number[]> {
  try {
    return (await readFile(join(dir, "cgroup.procs"), "utf8")).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Reads whether the kernel's OOM killer acted inside this cgroup (memory hog diagnostics). */
export async function oomKilled(set: CgroupSet): Promise<boolean> {
  const events = await controllerFile(set, set.version === 1 ? "memory.oom_control" : "memory.events");
  return events !== null && /oom_kill [1-9]/.test(events);
}

/** Reads whether a fork was refused because the cgroup hit pids.max (fork bomb diagnostics). */
export async function pidsExhausted(set: CgroupSet): Promise<boolean> {
  const events = await controllerFile(set, "pids.events");
  return events !== null && /^max [1-9]/m.test(events);
}

/** SIGKILLs every process in the cgroup but `spare`, synchronously (also for process 'exit' handlers). */
export function killCgroupSync(set: CgroupSet, spare?: number): void {
  for (const dir of set.dirs) {
    let pids: string[];
    try {
      pids = readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean);
    } catch {
      continue;
    }
    for (const pid of pids) {
      if (Number(pid) === spare) continue;
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

/** Subdirectories first, deepest first: a cgroup can only be removed once it has no children. */
async function descendants(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const nested: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const child = join(dir, entry.name);
    nested.push(...(await descendants(child)), child);
  }
  return nested;
}

const DESTROY_ATTEMPTS = 100;

/**
 * Kills every process in the cgroup (nested cgroups included: runsc makes its own inside ours)
 * and removes it, deepest first. Idempotent. Throws when the kernel still holds it after about
 * two seconds, so the caller keeps the sandbox's record and the reaper tries again later.
 */
export async function destroyCgroup(set: CgroupSet): Promise<void> {
  for (const dir of set.dirs) {
    if (!existsSync(dir)) continue;
    // cgroup.kill (v2) kills the whole subtree atomically, forks in flight included.
    if (set.version === 2 && existsSync(join(dir, "cgroup.kill"))) await writeFile(join(dir, "cgroup.kill"), "1").catch(() => {});
    let lastError: NodeJS.ErrnoException | undefined;
    for (let attempt = 0; attempt < DESTROY_ATTEMPTS && existsSync(dir); attempt++) {
      for (const cg of [...(await descendants(dir)), dir]) {
        for (const pid of await members(cg)) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
        try {
          await rmdir(cg);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== "ENOENT" && code !== "EBUSY") throw err;
          if (code === "EBUSY") lastError = err as NodeJS.ErrnoException;
        }
      }
      if (existsSync(dir)) await new Promise((r) => setTimeout(r, 20));
    }
    if (existsSync(dir)) {
      const left = await members(dir);
      throw new Error(`cannot remove cgroup ${dir}: ${lastError?.code ?? "busy"}${left.length ? ` (processes ${left.join(", ")} still in it)` : ""}`);
    }
  }
}
