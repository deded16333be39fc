// `ironclaw inspect` and --inspect as a user runs them: one inspector per machine (a second
// `inspect` points at the first), the token guarding every request, the daemon reporting to it,
// `exec --inspect` serving a page of its own when none runs, and nothing left listening after.
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { backendsUnderTest } from "../support/backends.ts";
import { cliHarness } from "../support/cli.ts";
import { hubState, startInspector as startShared, type StartedInspector } from "../support/inspector-cli.ts";
import { exampleProject, FIX_PATCH, FIXED_LINE, removeExampleProjects, script } from "../support/example-project.ts";

const { env, ironclaw } = cliHarness("inspect");
const backend = backendsUnderTest()[0]!;
const running: ChildProcess[] = [];
afterEach(async () => {
  for (const child of running.splice(0)) {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  }
  await ironclaw(["down"]);
});
afterAll(removeExampleProjects);

/** An inspector of this file's own, stopped after each test; it must be the one that started. */
async function startInspector(): Promise<StartedInspector> {
  const started = await startShared(ironclaw);
  running.push(started.child);
  expect(started.started).toBe(true);
  return started;
}

const api = (url: string, path: string) => fetch(url.replace("/?", `${path}?`));
const state = hubState;
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

describe("ironclaw inspect", () => {
  it("serves with a token, is found by a second `inspect`, refuses a clashing port, and stops clean on SIGTERM", async () => {
    const { url, port, child, done } = await startInspector();
    expect(new URL(url).hostname).toBe("127.0.0.1");
    expect((await fetch(`http://127.0.0.1:${port}/api/state`)).status).toBe(401);
    expect((await api(url, "/api/state")).status).toBe(200);
    const page = await (await fetch(url)).text();
    expect(page).toContain(new URL(url).searchParams.get("token")); // the page's asset and socket URLs carry it
    const again = await ironclaw(["inspect", "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ url, started: false });
    const clash = await ironclaw(["inspect", "--port", String(port === 65535 ? 65534 : port + 1)]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/already running on port/);
    child.kill("SIGTERM");
    expect((await done).code).toBe(0);
    expect(await listening(port)).toBe(false);
    expect(existsSync(join(env.IRONCLAW_RUN_DIR, "inspector.json"))).toBe(false);
  });

  it("a port in use is a usage error that says what to do", async () => {
    const { port } = await startInspector();
    const other = await ironclaw(["inspect", "--port", String(port)], { env: { IRONCLAW_RUN_DIR: join(env.IRONCLAW_RUN_DIR, "other") } });
    expect(other.code).toBe(2);
    expect(other.stderr.trim()).toMatch(/^ironclaw: port \d+ is in use: pick another with --port/);
  });

  it("shows the daemon's actors: a daemon already up reports to a new inspector, and exec --inspect through it names that page", async () => {
    expect((await ironclaw(["up", "--backend", backend])).code).toBe(0);
    const { url } = await startInspector();
    await expect.poll(async () => (await state(url)).processes.find((p) => p.command === "daemon")?.connected, { timeout: 20_000 }).toBe(true);
    const exec = await ironclaw(["exec", "--inspect", "--", "true"]);
    expect(exec.code).toBe(0);
    expect(exec.stderr).toContain(url);
    const s = await state(url);
    const daemon = s.processes.find((p) => p.command === "daemon")!;
    const mine = s.actors.filter((a) => a.process === daemon.id).map((a) => a.actor);
    expect(mine.find((a) => a.machine === "orchestrator")?.status).toBe("active");
    expect(mine.some((a) => a.machine === "slot")).toBe(true);
    // The exec's sandbox (a leased slot's vm or one of its own) ran and was destroyed.
    await expect.poll(async () => (await state(url)).log.some((l) => l.process === daemon.id && l.entry.text === "destroyed (done)")).toBe(true);
    expect((await ironclaw(["down"])).code).toBe(0);
    await expect.poll(async () => (await state(url)).processes.find((p) => p.id === daemon.id)?.connected).toBe(false);
  });

  it("up --inspect reports to the running inspector and says where it is", async () => {
    const { url } = await startInspector();
    const up = await ironclaw(["up", "--inspect", "--backend", backend]);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`inspector: ${url}`);
    expect((await ironclaw(["status"])).stdout).toContain(`inspector: ${url}`);
  });

  it("exec --inspect with no inspector running serves one for the command's life, then nothing listens", async () => {
    const run = await ironclaw(["exec", "--no-daemon", "--inspect", "--backend", backend, "--", "echo", "hi"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hi\n");
    const url = /inspector: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(run.stderr)?.[1];
    expect(url).toBeDefined();
    expect(await listening(Number(new URL(url!).port))).toBe(false);
  });

  it("a run whose inspector is stopped mid-run serves its own page, and an answer there still applies the change", async () => {
    const first = await startInspector();
    const dir = exampleProject({});
    const s = script(dir, [{ toolCalls: [{ name: "apply_patch", arguments: { path: "src/cart.js", patch: FIX_PATCH } }] }, { text: "fixed" }]);
    let stderr = "";
    let child!: ChildProcess;
    const done = ironclaw(["run", "--inspect", "--backend", backend, "--script", s, "fix it"], {
      cwd: dir,
      onSpawn: (c) => ((child = c), running.push(c), c.stderr!.on("data", (d) => (stderr += d))),
    });
    // Waiting at the cliff for the diff, in the first inspector …
    await expect.poll(() => stderr, { timeout: 60_000 }).toContain("waiting for an answer in the inspector");
    expect(stderr).toContain(first.url);
    first.child.kill("SIGTERM");
    // … which goes away: the run serves a page of its own and says where.
    await expect.poll(() => /now serves its own: (\S+)/.exec(stderr)?.[1], { timeout: 20_000 }).toBeDefined();
    const url = /now serves its own: (\S+)/.exec(stderr)![1]!;
    const pending = (await state(url)).actors.find((a) => a.actor.approval !== null);
    expect(pending).toBeDefined();
    const answer = await fetch(url.replace("/?", "/api/answer?"), {
      method: "POST",
      body: JSON.stringify({ type: "approve", requestId: "q1", process: pending!.process, actorId: pending!.actor.id, actionHash: pending!.actor.approval!.actionHash }),
    });
    expect(answer.status).toBe(200);
    const result = await done;
    expect(result.code, stderr).toBe(0);
    expect(readFileSync(join(dir, "src", "cart.js"), "utf8")).toContain(FIXED_LINE);
    expect(child.exitCode).toBe(0);
    expect(await listening(Number(new URL(url).port))).toBe(false);
  });
});
