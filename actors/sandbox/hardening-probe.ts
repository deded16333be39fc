// What `ironclaw doctor` says holds, measured rather than assumed: a real sandbox of the backend
// runs a small shell script as a command would run, and the host reads the ids of every process
// the sandbox is made of. Nothing here changes anything: writability is tested, never used.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { nanoid } from "nanoid";
import { PROBE_LIMITS } from "./sandbox-probe.ts";
import type { Hardening, Sandbox, SandboxDriver, SandboxLimits, SandboxRecord } from "./sandbox-driver.ts";

// POSIX sh and busybox alike. `$PPID` is the guest agent: a command's parent.
const SCRIPT = [
  'echo "uidmap=$(head -n1 /proc/self/uid_map 2>/dev/null)"',
  "grep -E '^(Seccomp|CapEff):' /proc/self/status",
  "test -w /proc/sys/kernel/hostname && echo procsys=writable || echo procsys=read-only",
  '[ "$(head -c1 /proc/keys 2>/dev/null | wc -c)" -gt 0 ] && echo keys=readable || echo keys=masked',
  "kill -0 $PPID 2>/dev/null && echo agent=reachable || echo agent=apart",
  "unshare -U true 2>/dev/null && echo userns=allowed || echo userns=refused",
].join("\n");

export interface HardeningFacts {
  readonly uidmap: string;
  readonly seccomp: Hardening["seccomp"];
  readonly capabilities: string;
  readonly procSysWritable: boolean;
  readonly procKeysReadable: boolean;
  readonly agentReachable: boolean;
  readonly nestedUserNamespaces: boolean;
}

/** Parses the script's output (exported for tests: the words are the contract). */
export function parseFacts(text: string): HardeningFacts {
  const field = (re: RegExp) => re.exec(text)?.[1]?.trim() ?? "";
  const mode = field(/^Seccomp:\s*(\d)/m);
  return {
    uidmap: field(/^uidmap=(.*)$/m).replace(/\s+/g, " "),
    seccomp: mode === "2" ? "filter" : mode === "1" ? "strict" : mode === "0" ? "off" : "unknown",
    capabilities: field(/^CapEff:\s*(\S+)/m) || "unknown",
    procSysWritable: /^procsys=writable$/m.test(text),
    procKeysReadable: /^keys=readable$/m.test(text),
    agentReachable: /^agent=reachable$/m.test(text),
    nestedUserNamespaces: /^userns=allowed$/m.test(text),
  };
}

function realUid(pid: number): number | null {
  try {
    const line = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return line ? Number(line[1]) : null;
  } catch {
    return null;
  }
}

/** Every process the sandbox is made of, as the host sees them: its cgroup's members, or its one process. */
function sandboxPids(record: SandboxRecord): number[] {
  const pids = new Set<number>();
  if (record.process) pids.add(record.process.pid);
  for (const dir of record.cgroup?.dirs ?? []) {
    try {
      for (const p of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")) if (p) pids.add(Number(p));
    } catch {
      // a controller dir without members: nothing to add
    }
  }
  return [...pids];
}

export async function measureHardening(driver: SandboxDriver, limits: SandboxLimits = PROBE_LIMITS, signal?: AbortSignal): Promise<Hardening> {
  let record: SandboxRecord = await driver.provision({ id: `probe-${nanoid(8)}`, backend: driver.backend, limits }, signal);
  try {
    const sandbox: Sandbox = await driver.boot(record, signal);
    record = sandbox.record;
    const chunks: Buffer[] = [];
    await sandbox.channel.exec({ argv: ["/bin/sh", "-c", SCRIPT], timeoutMs: 20_000 }, (_stream, data) => chunks.push(data), signal);
    // Read while it still runs: the ids of the processes that hold the sandbox.
    const hostUids = [
      ...new Set(
        sandboxPids(record)
          .map(realUid)
          .filter((u) => u !== null),
      ),
    ].sort((a, b) => a - b);
    const facts = parseFacts(Buffer.concat(chunks).toString("utf8"));
    const map = /^0 (\d+) \d+$/.exec(facts.uidmap);
    return {
      hostUids,
      ...(map && driver.backend === "namespace" && { insideRootIsHost: Number(map[1]) }),
      seccomp: facts.seccomp,
      capabilities: facts.capabilities,
      procSysWritable: facts.procSysWritable,
      procKeysReadable: facts.procKeysReadable,
      nestedUserNamespaces: facts.nestedUserNamespaces,
      agentReachable: facts.agentReachable,
      limits: record.limits ?? null,
      cgroup: record.cgroup?.version ?? null,
    };
  } finally {
    await driver.destroy(record).catch(() => {});
  }
}
