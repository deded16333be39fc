// Attacks from inside the sandbox, on every backend. Each test plants something on the host
// that a sandboxed command must not reach, and checks from both sides.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GUEST_NODE } from "../../actors/sandbox/sandbox-view.ts";
import { backendsUnderTest, withSandbox } from "../support/backends.ts";

async function run(sandbox: Parameters<Parameters<typeof withSandbox>[1]>[0], argv: string[], timeoutMs = 20_000) {
  let stdout = "";
  let stderr = "";
  const exit = await sandbox.channel.exec({ argv, timeoutMs }, (s, d) => (s === "stdout" ? (stdout += d) : (stderr += d)));
  return { ...exit, stdout, stderr };
}

describe.each(backendsUnderTest())("%s sandbox isolation", (backend) => {
  const secretDir = mkdtempSync(join(process.env.IRONCLAW_TEST_SCRATCH ?? "/tmp", "secret-"));
  const secret = join(secretDir, "secret.txt");
  let port = 0;
  const server = createServer((socket) => socket.end("host service\n"));
  const victim = spawn("sleep", ["300"], { stdio: "ignore" });

  beforeAll(async () => {
    writeFileSync(secret, "host secret");
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => {
    server.close();
    victim.kill("SIGKILL");
    rmSync(secretDir, { recursive: true, force: true });
  });

  it("cannot read host files outside the read-only runtime", async () => {
    await withSandbox(backend, async (sandbox) => {
      const r = await run(sandbox, ["sh", "-c", `cat ${secret}; cat /etc/shadow; ls /home /root /work 2>&1; cat /proc/1/environ | tr '\\0' '\\n' | grep -c IRONCLAW || true`]);
      expect(r.stdout).not.toContain("host secret");
      expect(r.stderr).toMatch(/No such file/);
      expect(r.stdout).not.toMatch(/main|\.ssh/); // the host's /work and /root are not there
      await expect(sandbox.channel.readFile(secret)).rejects.toMatchObject({ code: "ENOENT" });
    });
    expect(readFileSync(secret, "utf8")).toBe("host secret");
  });

  it("cannot reach services on the host's loopback, or any network", async () => {
    await withSandbox(backend, async (sandbox) => {
      const probe = `const s=require("net").connect(${port},"127.0.0.1");s.on("data",d=>{console.log("REACHED "+d);process.exit(0)});s.on("error",e=>{console.log("blocked "+e.code);process.exit(3)});setTimeout(()=>{console.log("blocked timeout");process.exit(3)},3000)`;
      const r = await run(sandbox, [GUEST_NODE, "-e", probe]);
      expect(r.stdout).not.toContain("REACHED");
      expect(r.code).toBe(3);
      const ifaces = await run(sandbox, ["cat", "/proc/net/dev"]);
      const names = ifaces.stdout
        .split("\n")
        .slice(2)
        .map((l) => l.split(":")[0]!.trim())
        .filter(Boolean);
      expect(names.filter((n) => n !== "lo")).toEqual([]);
    });
  });

  it("cannot see or signal host processes", async () => {
    await withSandbox(backend, async (sandbox) => {
      const r = await run(sandbox, ["sh", "-c", `kill -9 ${victim.pid}; echo rc=$?; ls /proc | grep -c '^[0-9]'`]);
      expect(r.stdout).toMatch(/rc=1/);
      expect(Number(r.stdout.trim().split("\n").pop())).toBeLessThan(10);
    });
    expect(victim.exitCode).toBeNull();
    expect(() => process.kill(victim.pid!, 0)).not.toThrow();
  });

  it("contains a fork bomb within its process limit", async () => {
    const limits = { memoryMiB: 256, pidsMax: 64 };
    await withSandbox(
      backend,
      async (sandbox) => {
        const bomb = sandbox.channel.exec({ argv: ["sh", "-c", "f() { f | f & }; f; sleep 2; echo still-here"], timeoutMs: 8000 });
        const outcome = await bomb.then(
          (e) => `exit ${e.code ?? e.signal}`,
          (e: Error) => `sandbox ended: ${e.message}`,
        );
        // Either the sandbox survives its own bomb, or the bomb takes only the sandbox down.
        expect(outcome).toMatch(/^(exit|sandbox ended)/);
        const events = readFileSync(join(sandbox.record.cgroup!.dirs.at(-1)!, "pids.events"), "utf8");
        expect(events).toMatch(/^max [1-9]/m);
        const current = Number(readFileSync(join(sandbox.record.cgroup!.dirs.at(-1)!, "pids.current"), "utf8"));
        expect(current).toBeLessThanOrEqual(limits.pidsMax);
      },
      limits,
    );
  });

  it("contains a memory hog within its memory limit", async () => {
    const limits = { memoryMiB: 128, pidsMax: 128 };
    await withSandbox(
      backend,
      async (sandbox) => {
        const hog = `const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))`;
        const outcome = await sandbox.channel.exec({ argv: [GUEST_NODE, "--max-old-space-size=4096", "-e", hog], timeoutMs: 8000 }).then(
          (e) => e,
          (e: Error) => ({ code: null, signal: "sandbox ended", message: e.message }),
        );
        expect(outcome.code).not.toBe(0);
        const dir = sandbox.record.cgroup!.dirs[0]!;
        const peak = sandbox.record.cgroup!.version === 1 ? "memory.max_usage_in_bytes" : "memory.peak";
        expect(Number(readFileSync(join(dir, peak), "utf8"))).toBeLessThanOrEqual(limits.memoryMiB * 1024 * 1024);
      },
      limits,
    );
  });
});
