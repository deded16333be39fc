// The CLI as a user runs it: bin/ironclaw, real sandboxes, real signals.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, release, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findImage, imageInputs } from "../../actors/sandbox/guest-image.ts";
import { findQemu } from "../../actors/sandbox/qemu.driver.ts";
import { findFirecracker } from "../../actors/sandbox/firecracker.driver.ts";
import type { Hardening } from "../../actors/sandbox/sandbox-driver.ts";
import { backendsUnderTest, env } from "../support/backends.ts";
import { cliHarness } from "../support/cli.ts";

const { BIN, ironclaw, sandboxProcesses, until, records, commandRunning } = cliHarness("e2e");

describe.each(backendsUnderTest())("ironclaw exec --backend %s", (backend) => {
  it("prints the command's output and exits with its code", async () => {
    const r = await ironclaw(["exec", "--backend", backend, "--", "sh", "-c", "echo hi; exit 7"]);
    expect(r).toMatchObject({ code: 7, stdout: "hi\n" });
  });

  it("reports a JSON result with --json", async () => {
    const r = await ironclaw(["exec", "--backend", backend, "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend, exitCode: 3, code: 3, stdout: "out\n", stderr: "err\n", isolation: expect.stringContaining(backend) });
  });

  it("runs under the CPU limit asked for with --cpus, and says so", async () => {
    const r = await ironclaw(["exec", "--backend", backend, "--cpus", "0.5", "--json", "--", "true"]);
    // A host whose cgroups cannot hold a CPU quota refuses a limit the user asked for.
    if (r.code === 125) return void expect(r.stderr).toMatch(/^ironclaw: cannot enforce --cpus here: /);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ isolation: expect.stringContaining("+cpu limits (0.5 CPUs)"), limits: expect.stringContaining(", cpu)") });
  });

  it("passes stdin with -i", async () => {
    const r = await ironclaw(["exec", "-b", backend, "-i", "--", "tr", "a-z", "A-Z"], { input: "shout\n" });
    expect(r).toMatchObject({ code: 0, stdout: "SHOUT\n" });
  });

  it("exits 127 for a missing command and 124 on timeout, with one-line reasons", async () => {
    const missing = await ironclaw(["exec", "-b", backend, "--", "no-such-tool"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toBe("ironclaw: command not found in the sandbox: no-such-tool\n");
    const nowhere = await ironclaw(["exec", "-b", backend, "--cwd", "/no/such/dir", "--", "true"]);
    expect(nowhere.code).toBe(126);
    expect(nowhere.stderr).toBe("ironclaw: working directory /no/such/dir does not exist in the sandbox (check --cwd)\n");
    const slow = await ironclaw(["exec", "-b", backend, "--timeout", "0.5", "--", "sleep", "30"]);
    expect(slow.code).toBe(124);
    expect(slow.stderr).toBe("ironclaw: command timed out after 0.5 s and was killed\n");
  });

  it("leaves nothing behind when killed with SIGKILL, and the next start reaps its records", async () => {
    const marker = backend === "gvisor" ? "61.25" : "61.5";
    const run = ironclaw(["exec", "-b", backend, "--", "sleep", marker], {
      onSpawn: (child) => {
        void until(() => commandRunning(`sleep ${marker}`), Boolean, 20_000).then(() => child.kill("SIGKILL"));
      },
    });
    expect((await run).signal).toBe("SIGKILL");
    const left = await until(
      () => sandboxProcesses(`sleep ${marker}`),
      (p) => p.length === 0,
      2000,
    );
    expect(left).toEqual([]);
    const doctor = await ironclaw(["doctor", "--json"]);
    expect(JSON.parse(doctor.stdout).reapedLeftovers.length).toBeGreaterThan(0);
    expect(records()).toEqual([]);
  });

  it("tears the sandbox down and exits 130 on Ctrl-C (SIGINT), 143 on SIGTERM", async () => {
    for (const [signal, code] of [
      ["SIGINT", 130],
      ["SIGTERM", 143],
    ] as const) {
      const marker = `62.${code}`;
      const r = await ironclaw(["exec", "-b", backend, "--", "sleep", marker], {
        onSpawn: (child) => {
          void until(() => commandRunning(`sleep ${marker}`), Boolean, 20_000).then(() => child.kill(signal));
        },
      });
      expect(r.code).toBe(code);
      expect(r.stderr).toContain(`interrupted by ${signal}; the sandbox was destroyed`);
      expect(sandboxProcesses(`sleep ${marker}`)).toEqual([]);
      expect(records()).toEqual([]);
    }
  });
});

describe.skipIf(!findQemu() || !findImage(imageInputs(env)))("ironclaw exec --backend qemu", () => {
  it("prints the guest's kernel release, not the host's, and leaves no QEMU behind", async () => {
    const r = await ironclaw(["exec", "--backend", "qemu", "--", "uname", "-r"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(findImage(imageInputs(env))!.kernelRelease);
    expect(r.stdout.trim()).not.toBe(release());
    expect(records()).toEqual([]);
  });
});

const cores = availableParallelism();
const cpusRange = (n: string) =>
  new RegExp(
    `^ironclaw: option '--cpus <n>' argument '${n}' is invalid\\. --cpus must be a number of CPUs from 0\\.01 to ${cores} \\(this machine has ${cores}\\), got "${n}"\\n$`,
  );

describe("ironclaw usage", () => {
  it("refuses bad input with one line and exit 2, starting nothing", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["exec", "--backend", "docker", "--", "true"], /^ironclaw: unknown backend "docker": choose one of firecracker, qemu, gvisor, namespace\n$/],
      [["exec", "--memory", "5", "--", "true"], /^ironclaw: .*--memory must be a whole number from 64 to 1048576, got "5"\n$/],
      [["exec", "--timeout", "soon", "--", "true"], /^ironclaw: .*--timeout must be a number/],
      [["exec"], /^ironclaw: missing required argument 'command'\n$/],
      [["exec", "--", "grep", "", "f"], /^ironclaw: argument 2 of the command is empty, .*leave it out or pass it through a shell/],
      ...["0", "-1", "NaN", String(cores + 1)].map((n): [string[], RegExp] => [["exec", "--cpus", n, "--", "true"], cpusRange(n)]),
      [["run", "fix it", "--cpus", "0"], cpusRange("0")],
      [["launch"], /^ironclaw: unknown command 'launch'\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await ironclaw(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(message);
    }
    // The default comes from the settings, checked the same way.
    const setting = await ironclaw(["exec", "--", "true"], { env: { IRONCLAW_CPUS: "0" } });
    expect(setting).toMatchObject({ code: 2, stderr: `ironclaw: IRONCLAW_CPUS=0: must be a number of CPUs from 0.01 to ${cores} (this machine has ${cores})\n` });
  });

  it.skipIf(findFirecracker() !== null)("says how to get a backend that is not installed, and exits 125", async () => {
    const r = await ironclaw(["exec", "--backend", "firecracker", "--", "true"], { env: { IRONCLAW_FIRECRACKER: "" } });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^ironclaw: .*the firecracker backend needs Firecracker: put `firecracker` on PATH or set IRONCLAW_FIRECRACKER \(docs\/backends\.md\)\n$/);
  });

  it("prints its version and help", async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as { version: string };
    expect((await ironclaw(["--version"])).stdout.trim()).toBe(pkg.version);
    const help = await ironclaw(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/exec \[options\] <command\.\.\.>/);
    expect(help.stdout).toMatch(/doctor/);
  });

  it("image prune removes images this version does not boot, and their snapshots, and nothing else", async () => {
    const cache = mkdtempSync(join(tmpdir(), "ironclaw-images-"));
    const snapshots = join(cache, "snapshots");
    try {
      const images = join(cache, "ironclaw", "images");
      for (const id of ["v1-old000000001", "v1-old000000002"]) {
        mkdirSync(join(images, id), { recursive: true });
        writeFileSync(join(images, id, "manifest.json"), JSON.stringify({ id, dir: join(images, id), format: 1, bytes: 3 << 20, inputs: "stale" }));
      }
      mkdirSync(snapshots, { mode: 0o700 });
      for (const name of ["v1-old000000001-m512-tcg.vmstate", "v1-other0000000-m512-tcg.vmstate"]) writeFileSync(join(snapshots, name), "");
      const r = await ironclaw(["image", "prune", "--json"], { env: { XDG_CACHE_HOME: cache, IRONCLAW_SNAPSHOT_PATH: snapshots } });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ removed: ["v1-old000000001", "v1-old000000002"], kept: null, freedBytes: 6 << 20 });
      expect(readdirSync(images)).toEqual([]);
      expect(readdirSync(snapshots)).toEqual(["v1-other0000000-m512-tcg.vmstate"]);
      expect((await ironclaw(["image", "prune"], { env: { XDG_CACHE_HOME: cache } })).stdout).toBe("nothing to prune\n");
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it("doctor reports every backend with usable and a reason", async () => {
    const r = await ironclaw(["doctor", "--json"]);
    const report = JSON.parse(r.stdout) as { backends: Array<{ backend: string; usable: boolean; reason: string }>; default: string };
    expect(report.backends.map((b) => b.backend)).toEqual(["firecracker", "qemu", "gvisor", "namespace"]);
    for (const b of report.backends) expect(b.reason.length).toBeGreaterThan(10);
    for (const name of backendsUnderTest()) expect(report.backends.find((b) => b.backend === name)?.usable).toBe(true);
    expect(r.code).toBe(0);
  });

  it("doctor, exec --json and the default: the strongest backend at hardware speed, with every stronger one passed over and why", async () => {
    const r = await ironclaw(["doctor", "--json"]);
    type Entry = { backend: string; usable: boolean; reason: string; emulated?: boolean };
    const report = JSON.parse(r.stdout) as { backends: Entry[]; default: string | null; passedOver: Array<{ backend: string; reason: string }> };
    const fast = report.backends.filter((b) => b.usable && !b.emulated);
    // The default is the first (strongest) backend that works without emulation; each before it is passed over with its reason.
    expect(report.default).toBe(fast[0]?.backend ?? null);
    const stronger = report.backends.slice(
      0,
      report.backends.findIndex((b) => b.backend === report.default),
    );
    expect(report.passedOver.map((p) => p.backend)).toEqual(stronger.map((b) => b.backend));
    for (const b of stronger) {
      const said = report.passedOver.find((p) => p.backend === b.backend)!.reason;
      expect(said).toEqual(b.usable ? expect.stringMatching(/only emulated here .*only when asked for by name/) : b.reason);
    }
    // On a machine whose KVM cannot boot a guest (this kind), QEMU works only emulated: never the default, but there on request.
    const qemu = report.backends.find((b) => b.backend === "qemu")!;
    if (qemu.usable && qemu.emulated) expect(report.default).not.toBe("qemu");

    const exec = await ironclaw(["exec", "--no-daemon", "--json", "--", "true"]);
    expect(JSON.parse(exec.stdout)).toMatchObject({ backend: report.default, passedOver: report.passedOver, exitCode: 0 });
    const named = await ironclaw(["exec", "--no-daemon", "--json", "-b", "namespace", "--", "true"]);
    expect(JSON.parse(named.stdout)).toMatchObject({ backend: "namespace", passedOver: [] });
  });

  it.runIf(process.getuid?.() === 0)(
    "doctor measures each process backend's hardening in a real sandbox: no host root, and for namespace seccomp, /proc and the agent",
    async () => {
      const r = await ironclaw(["doctor", "--json"]);
      const report = JSON.parse(r.stdout) as { backends: Array<{ backend: string; hardening?: Hardening; hardeningError?: string }> };
      for (const name of backendsUnderTest()) {
        const entry = report.backends.find((b) => b.backend === name);
        expect({ name, error: entry?.hardeningError }).toEqual({ name, error: undefined });
        const h = entry?.hardening;
        expect(h?.hostUids.length).toBeGreaterThan(0);
        expect(h?.hostUids).not.toContain(0);
        expect(h?.limits?.cpus).toBeGreaterThan(0);
      }
      const ns = report.backends.find((b) => b.backend === "namespace")?.hardening;
      expect(ns).toMatchObject({ seccomp: "filter", procSysWritable: false, procKeysReadable: false, nestedUserNamespaces: false, agentReachable: false });
      expect(ns?.insideRootIsHost).toBeGreaterThan(0);
      const text = await ironclaw(["doctor"]);
      expect(text.stdout).toMatch(/namespace[\s\S]*seccomp: filter in force \(measured in a command/);
      expect(text.stdout).not.toMatch(/HOST ROOT|includes host root/);
    },
  );
});

// As a user without root: bubblewrap still isolates, but cgroups are not writable. IronClaw says
// so on every run, and refuses limits it cannot enforce. Needs root to switch user, and a
// checkout that user can read.
const asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
const nobodyCanRun = process.getuid?.() === 0 && spawnSync(asNobody[0]!, [...asNobody.slice(1), "test", "-x", BIN], { stdio: "ignore" }).status === 0;

describe.skipIf(!nobodyCanRun)("ironclaw as an unprivileged user", () => {
  const home = mkdtempSync(join(tmpdir(), "ironclaw-nobody-"));
  chmodSync(home, 0o777);
  const env = { PATH: process.env.PATH, HOME: home, IRONCLAW_STATE_DIR: join(home, "state"), IRONCLAW_RUN_DIR: join(home, "run") };
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it("runs on the namespace backend with a warning that no limits apply, and refuses --memory", () => {
    const ok = spawnSync(asNobody[0]!, [...asNobody.slice(1), BIN, "exec", "-b", "namespace", "--", "sh", "-c", "echo hi"], { env, encoding: "utf8" });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe("hi\n");
    expect(ok.stderr).toMatch(/^ironclaw: warning: the sandbox runs without memory and process limits: /);
    const refused = spawnSync(asNobody[0]!, [...asNobody.slice(1), BIN, "exec", "-b", "namespace", "--memory", "128", "--", "true"], { env, encoding: "utf8" });
    expect(refused.status).toBe(125);
    expect(refused.stderr).toMatch(/^ironclaw: cannot enforce --memory\/--pids here: /);
    const noQuota = spawnSync(asNobody[0]!, [...asNobody.slice(1), BIN, "exec", "-b", "namespace", "--cpus", "1", "--", "true"], { env, encoding: "utf8" });
    expect(noQuota.status).toBe(125);
    expect(noQuota.stderr).toMatch(/^ironclaw: cannot enforce --cpus here: /);
    expect(readdirSync(join(home, "state", "sandboxes"))).toEqual([]);
  });
});
