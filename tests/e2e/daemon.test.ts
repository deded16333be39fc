// The daemon as a user runs it: up, a warm pool, exec through the daemon (leased sandboxes),
// Ctrl-C of a client mid-command, status, and down — after which nothing is left.
import { statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { backendsUnderTest } from "../support/backends.ts";
import { cliHarness } from "../support/cli.ts";

const { env, ironclaw, sandboxProcesses, until, records, commandRunning } = cliHarness("daemon");
const backend = backendsUnderTest()[0]!;
const small = { IRONCLAW_POOL_SIZE: "2" };

describe.skipIf(!backend)("ironclaw up / exec / status / down", () => {
  afterAll(async () => {
    await ironclaw(["down"]); // whatever a failed test left running
  });

  it("refuses an out-of-range pool size before starting anything", async () => {
    const r = await ironclaw(["up"], { env: { IRONCLAW_POOL_SIZE: "50" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ironclaw: IRONCLAW_POOL_SIZE=50: Expected a value between 1 and 20\n");
    expect((await ironclaw(["status"])).code).toBe(3);
  });

  it("runs one daemon when two `ironclaw up` race, and both say so", async () => {
    const both = await Promise.all([ironclaw(["up", "--backend", backend, "--json"], { env: small }), ironclaw(["up", "--backend", backend, "--json"], { env: small })]);
    expect(both.map((r) => r.code)).toEqual([0, 0]);
    const answers = both.map((r) => JSON.parse(r.stdout) as { started: boolean; pid: number });
    expect(answers.map((a) => a.started).sort()).toEqual([false, true]);
    expect(answers[0]!.pid).toBe(answers[1]!.pid);
    expect(JSON.parse((await ironclaw(["down", "--json"])).stdout)).toMatchObject({ stopped: true });
    expect(records()).toEqual([]);
  });

  it("serves exec from a warm pool, cancels a client's command on Ctrl-C, and stops with nothing left", async () => {
    const up = await ironclaw(["up", "--backend", backend, "--json"], { env: small });
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ running: true, started: true, backend, poolSize: 2 });
    // Owner-only socket, no TCP.
    expect(statSync(join(env.IRONCLAW_STATE_DIR, "daemon.sock")).mode & 0o777).toBe(0o600);
    expect((await ironclaw(["up", "--json"])).stdout).toContain('"started":false');

    const warm = await ironclaw(["pool", "warm", "--wait", "--json"]);
    expect(JSON.parse(warm.stdout)).toMatchObject({ size: 2, ready: 2 });

    const run = await ironclaw(["exec", "--json", "--", "sh", "-c", "echo via-daemon; exit 5"]);
    expect(run.code).toBe(5);
    expect(JSON.parse(run.stdout)).toMatchObject({ path: "daemon", leased: true, backend, stdout: "via-daemon\n", exitCode: 5 });
    // Other limits than the pool's: a sandbox of its own, still through the daemon.
    const own = await ironclaw(["exec", "--json", "--memory", "256", "--", "true"]);
    expect(JSON.parse(own.stdout)).toMatchObject({ path: "daemon", leased: false, exitCode: 0 });
    const ownCpus = await ironclaw(["exec", "--json", "--cpus", "0.5", "--", "true"]);
    expect(JSON.parse(ownCpus.stdout)).toMatchObject({ path: "daemon", leased: false, exitCode: 0, isolation: expect.stringContaining("(0.5 CPUs)") });
    // --no-daemon still runs in process.
    expect(JSON.parse((await ironclaw(["exec", "--no-daemon", "-b", backend, "--json", "--", "true"])).stdout)).toMatchObject({ path: "in-process" });

    const marker = "sleep 63.5";
    const interrupted = await ironclaw(["exec", "--", "sleep", "63.5"], {
      onSpawn: (child) => void until(() => commandRunning(marker), Boolean, 20_000).then(() => child.kill("SIGINT")),
    });
    expect(interrupted.code).toBe(130);
    expect(
      await until(
        () => commandRunning(marker),
        (running) => !running,
        5000,
      ),
    ).toBe(false);

    const status = JSON.parse((await ironclaw(["status", "--json"])).stdout);
    expect(status).toMatchObject({ running: true, backend, state: "running", pool: { size: 2 } });
    expect(status.children.filter((c: { src: string }) => c.src === "slot")).toHaveLength(2);
    expect(status.children.filter((c: { src: string }) => c.src === "vm")).toEqual([]); // finished tasks are gone

    const down = await ironclaw(["down", "--json"]);
    expect(JSON.parse(down.stdout)).toMatchObject({ running: false, stopped: true });
    expect((await ironclaw(["status"])).code).toBe(3);
    expect(records()).toEqual([]);
    expect(sandboxProcesses("no such marker")).toEqual([]);
  });
});
