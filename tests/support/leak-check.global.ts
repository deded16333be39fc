// Runs once after the whole suite: whatever a test left behind — a sandbox process, a work
// directory, a cgroup, a state record — fails the run here, whichever test leaked it.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BLOCK_SIZE, ID_LOCK_DIR, isRangeProblem, reservedRange } from "../../actors/sandbox/sandbox-ids.ts";

function cgroupParents(): string[] {
  const parent = process.env.IRONCLAW_CGROUP_PARENT!;
  return [`/sys/fs/cgroup/memory/${parent}`, `/sys/fs/cgroup/cpu/${parent}`, `/sys/fs/cgroup/pids/${parent}`, `/sys/fs/cgroup/${parent}`];
}

function leftovers(): string[] {
  const found: string[] = [];
  const scratch = process.env.IRONCLAW_TEST_SCRATCH!;
  const ps = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  for (const line of ps.split("\n")) {
    if (line.includes(scratch) && /bwrap|runsc|qemu-system|firecracker|jailer|guest-agent/.test(line)) found.push(`process: ${line.trim()}`);
  }
  // bubblewrap's command line names no path of ours (it binds by descriptor): sandbox processes
  // are also known by their ids, from IronClaw's reserved range. A zombie has exited already.
  const range = reservedRange();
  if (!isRangeProblem(range)) {
    const end = range.uidStart + range.blocks * BLOCK_SIZE;
    for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
      let status: string;
      try {
        status = readFileSync(`/proc/${pid}/status`, "utf8");
      } catch {
        continue;
      }
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if (uid >= range.uidStart && uid < end && !/^State:\s+Z/m.test(status)) found.push(`process: ${pid} (host uid ${uid}) ${/^Name:\s+(.*)$/m.exec(status)?.[1] ?? ""}`);
    }
  }
  // Id-block locks are machine-wide; this suite's are those whose records dir is in its scratch.
  if (existsSync(ID_LOCK_DIR)) {
    for (const name of readdirSync(ID_LOCK_DIR)) {
      let records = "";
      try {
        records = (JSON.parse(readFileSync(join(ID_LOCK_DIR, name), "utf8")) as { records?: string }).records ?? "";
      } catch {
        // freed meanwhile
      }
      if (records.startsWith(scratch)) found.push(`id block: ${join(ID_LOCK_DIR, name)}`);
    }
  }
  for (const dir of ["run", "state/sandboxes", ...["e2e", "daemon"].flatMap((h) => [`${h}-run`, `${h}-state/sandboxes`])].map((d) => join(scratch, d))) {
    if (existsSync(dir)) for (const name of readdirSync(dir)) found.push(`file: ${join(dir, name)}`);
  }
  for (const cg of cgroupParents()) {
    if (!existsSync(cg)) continue;
    for (const entry of readdirSync(cg, { withFileTypes: true })) {
      if (entry.isDirectory()) found.push(`cgroup: ${join(cg, entry.name)}`);
    }
  }
  return found;
}

export async function teardown(): Promise<void> {
  // Teardown is asynchronous by design: give the last sandboxes a bounded moment to go.
  let found = leftovers();
  for (let i = 0; i < 50 && found.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    found = leftovers();
  }
  rmSync(process.env.IRONCLAW_TEST_SCRATCH!, { recursive: true, force: true });
  for (const cg of cgroupParents()) if (existsSync(cg)) rmdirSync(cg);
  if (found.length) throw new Error(`the test suite left resources behind:\n${found.join("\n")}`);
}
