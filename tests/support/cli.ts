// bin/ironclaw as a user runs it, on state and run directories of the calling test file's own
// (so one file's daemon or leftovers never show up in another's), inside the suite's scratch
// directory, which the suite's leak check covers.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { SandboxRecord } from "../../actors/sandbox/sandbox-driver.ts";
import { join } from "node:path";

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cliHarness(name: string) {
  const BIN = join(import.meta.dirname, "..", "..", "bin", "ironclaw");
  const scratch = process.env.IRONCLAW_TEST_SCRATCH!;
  const env: NodeJS.ProcessEnv & { IRONCLAW_STATE_DIR: string; IRONCLAW_RUN_DIR: string } = {
    ...process.env,
    IRONCLAW_STATE_DIR: join(scratch, `${name}-state`),
    IRONCLAW_RUN_DIR: join(scratch, `${name}-run`),
  };

  function ironclaw(args: string[], options: { input?: string; onSpawn?: (child: ChildProcess) => void; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn(BIN, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...env, ...options.env }, ...(options.cwd && { cwd: options.cwd }) });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.stdin.end(options.input);
      options.onSpawn?.(child);
      child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  }

  /**
   * Processes of this harness's sandboxes: the sandboxed command itself (exactly `marker`, e.g.
   * "sleep 61.5", so not the CLI whose arguments merely mention it) and any bwrap or runsc whose
   * command line names the harness's run dir.
   */
  function sandboxProcesses(marker: string): string[] {
    const ps = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
    const held = recordedPids();
    return (
      ps
        .split("\n")
        .map((l) => l.trim())
        // A zombie (`[bwrap] <defunct>`) has exited: it only waits for a reaper.
        .filter(
          (l) =>
            l.replace(/^\d+\s+/, "") === marker ||
            (/bwrap|runsc/.test(l) && !l.endsWith("<defunct>") && (l.includes(env.IRONCLAW_RUN_DIR) || held.has(Number(/^\d+/.exec(l)?.[0])))),
        )
    );
  }

  /** The sandbox processes the state dir's records name (bubblewrap binds by descriptor: its command line names no path of ours). */
  function recordedPids(): Set<number> {
    const pids = new Set<number>();
    for (const file of records()) {
      try {
        const record = JSON.parse(readFileSync(join(sandboxes, file), "utf8")) as SandboxRecord;
        if (record.process) pids.add(record.process.pid);
      } catch {
        // removed meanwhile
      }
    }
    return pids;
  }

  async function until<T>(what: () => T, ok: (v: T) => boolean, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    let v = what();
    while (!ok(v) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      v = what();
    }
    return v;
  }

  const sandboxes = join(env.IRONCLAW_STATE_DIR, "sandboxes");
  const records = () => (existsSync(sandboxes) ? readdirSync(sandboxes).filter((f) => f.endsWith(".json")) : []);
  const commandRunning = (marker: string) => sandboxProcesses(marker).some((l) => l.endsWith(marker));

  return { BIN, env, ironclaw, sandboxProcesses, until, records, commandRunning };
}
