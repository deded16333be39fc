// Memory and process-count limits through cgroups, v1 (per-controller hierarchies) or v2
// (unified). Sandboxes join their cgroup before the sandbox binary starts (see host-process),
// so nothing they fork can escape it; teardown kills whatever is left in it and removes it.
import { access, mkdir, readdir, readFile, rmdir, writeFile, constants } from "node:fs/promises";
import { existsSync, readFileSync, type Dirent } from "node:fs";
import { join } from "node:path";

const ROOT = "/sys/fs/cgroup";
/** The parent of all sandbox cgroups; overridable so a test run can keep to its own subtree. */
const group = () => process.env.IRONCLAW_CGROUP_PARENT || "ironclaw";

export interface CgroupLimits {
  readonly memoryBytes: number;
  readonly pidsMax: number;
  /** CPUs' worth of time per period; absent: no quota. */
  readonly cpus?: number;
}

/** What a sandbox's cgroup is made of: the directories to join, kill and remove. */
export interface CgroupSet {
  readonly version: 1 | 2;
  readonly dirs: readonly string[];
}

export type CgroupSupport =
  | { readonly usable: true; readonly version: 1 | 2; readonly detail: string }
  | { readonly usable: false; readonly version: 1 | 2 | null; readonly detail: string };

function cgroupVersion(): 1 | 2 | null {
  if (existsSync(join(ROOT, "cgroup.controllers"))) return 2;
  if (existsSync(join(ROOT, "memory")) && existsSync(join(ROOT, "pids"))) return 1;
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

export async function detectCgroups(): Promise<CgroupSupport> {
  const version = cgroupVersion();
  if (version === null) return { usable: false, version, detail: `no memory and pids cgroup controllers under ${ROOT}` };
  if (version === 1) {
    const ok = (await writable(join(ROOT, "memory"))) && (await writable(join(ROOT, "pids")));
    return ok
      ? { usable: true, version, detail: "cgroup v1 (memory, pids)" }
      : { usable: false, version, detail: `cgroup v1 hierarchies under ${ROOT} are not writable (run as root)` };
  }
  const controllers = (await readFile(join(ROOT, "cgroup.controllers"), "utf8")).split(/\s+/);
  if (!controllers.includes("memory") || !controllers.includes("pids")) {
    return { usable: false, version, detail: "cgroup v2 lacks the memory or pids controller" };
  }
  return (await writable(ROOT))
    ? { usable: true, version, detail: "cgroup v2 (memory, pids)" }
    : { usable: false, version, detail: `cgroup v2 root ${ROOT} is not writable (run as root, or give IronClaw a delegated cgroup)` };
}

/** Where the cgroup for sandbox `id` lives; also what teardown and the reaper remove. */
export function cgroupDirs(version: 1 | 2, id: string): string[] {
  return version === 1
    ? [join(ROOT, "memory", group(), id), join(ROOT, "pids", group(), id)]
    : [join(ROOT, group(), id)];
}

async function enableV2Controllers(dir: string): Promise<void> {
  const have = (await readFile(join(dir, "cgroup.subtree_control"), "utf8")).split(/\s+/);
  const missing = ["memory", "pids"].filter((c) => !have.includes(c));
  if (missing.length) await writeFile(join(dir, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
}

export async function createCgroup(version: 1 | 2, id: string, limits: CgroupLimits): Promise<CgroupSet> {
  const dirs = cgroupDirs(version, id);
  if (version === 1) {
    const [memory, pids] = dirs as [string, string];
    await mkdir(memory, { recursive: true });
    await mkdir(pids, { recursive: true });
    await writeFile(join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
    // Without this the limit only covers RAM and a hog simply swaps.
    if (existsSync(join(memory, "memory.memsw.limit_in_bytes"))) {
      await writeFile(join(memory, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes));
    }
    await writeFile(join(pids, "pids.max"), String(limits.pidsMax));
  } else {
    const [dir] = dirs as [string];
    await enableV2Controllers(ROOT);
    await mkdir(join(ROOT, group()), { recursive: true });
    await enableV2Controllers(join(ROOT, group()));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "memory.max"), String(limits.memoryBytes));
    if (existsSync(join(dir, "memory.swap.max"))) await writeFile(join(dir, "memory.swap.max"), "0");
    await writeFile(join(dir, "pids.max"), String(limits.pidsMax));
  }
  return { version, dirs };
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
  const dir = set.dirs[0]!;
  try {
    if (set.version === 1) return /oom_kill [1-9]/.test(await readFile(join(dir, "memory.oom_control"), "utf8"));
    return /oom_kill [1-9]/.test(await readFile(join(dir, "memory.events"), "utf8"));
  } catch {
    return false;
  }
}

/** Reads whether a fork was refused because the cgroup hit pids.max (fork bomb diagnostics). */
export async function pidsExhausted(set: CgroupSet): Promise<boolean> {
  const dir = set.version === 1 ? set.dirs[1] : set.dirs[0];
  if (!dir) return false;
  try {
    return /^max [1-9]/m.test(await readFile(join(dir, "pids.events"), "utf8"));
  } catch {
    return false;
  }
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
