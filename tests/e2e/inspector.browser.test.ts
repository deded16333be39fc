// The inspector in a real browser: Debian's Chromium, headless, driven by playwright-core, on
// the page `ironclaw inspect` serves. While `ironclaw run --inspect` works on a copy of the
// example project (a scripted model: no model API), the page must show that run's sandbox go
// ready → busy → destroyed, come back with the current state — not a stale one — after its
// socket was cut, and approve the final diff by a click, after which the project holds exactly
// that change. Screenshots go to test-artifacts/inspector/.
import type { ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { CHROMIUM_ARGS, CHROMIUM_PATH, chromiumMissing } from "../../scripts/render-mermaid.ts";
import { backendsUnderTest } from "../support/backends.ts";
import { cliHarness, type Run } from "../support/cli.ts";
import { hubState, startInspector as startShared } from "../support/inspector-cli.ts";
import { exampleProject, FIX_PATCH, FIXED_LINE, removeExampleProjects, script } from "../support/example-project.ts";

const missing = chromiumMissing();
const haveChromium = missing === null;
if (missing && process.env.CI) throw new Error(missing);
if (missing) console.warn(`skipping the inspector browser test: ${missing}`);

const { ironclaw } = cliHarness("inspector-browser");
const root = join(import.meta.dirname, "..", "..");
const artifacts = join(root, "test-artifacts", "inspector");
const backend = backendsUnderTest()[0]!;
const cleanup: Array<() => unknown> = [];
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  removeExampleProjects();
});

/**
 * A loopback TCP relay between the browser and the inspector, so the test can cut the page's
 * connection (and hold it cut) as a flaky network would, without touching the inspector.
 */
async function relay(port: number): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  const pairs = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = connect(port, "127.0.0.1");
    for (const s of [client, upstream]) {
      pairs.add(s);
      s.on("close", () => pairs.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      refusing = true;
      for (const s of pairs) s.destroy();
    },
    restore() {
      refusing = false;
    },
    close: () => new Promise<void>((r) => (server.close(() => r()), [...pairs].forEach((s) => s.destroy()))),
  };
}

/** A running `ironclaw inspect`, stopped when the file's tests end. */
async function startInspector(): Promise<{ url: string; port: number }> {
  const started = await startShared(ironclaw);
  cleanup.push(async () => {
    started.child.kill("SIGTERM");
    await started.done;
  });
  return started;
}

/** A copy of the example project, and a script: run a command that takes a while, fix the bug, stop. */
function project(): { dir: string; script: string } {
  const dir = exampleProject({});
  const turns = [
    // Long enough for a person (or this test) to watch the sandbox busy, and to cut the page's connection meanwhile.
    { text: "Looking around first.", toolCalls: [{ name: "exec", arguments: { argv: ["sleep", "6"] } }] },
    { expect: { toolResult: "exit code 0" }, toolCalls: [{ name: "apply_patch", arguments: { path: "src/cart.js", patch: FIX_PATCH } }] },
    { expect: { toolResult: "patched" }, text: "Fixed the discount sign." },
  ];
  return { dir, script: script(dir, turns) };
}

function runInspected(dir: string, script: string): { child: Promise<ChildProcess>; done: Promise<Run> } {
  let resolveChild!: (c: ChildProcess) => void;
  const child = new Promise<ChildProcess>((r) => (resolveChild = r));
  // No terminal: with --inspect the page is where approvals are answered.
  const done = ironclaw(["run", "--inspect", "--backend", backend, "--script", script, "fix the discount"], { cwd: dir, onSpawn: resolveChild });
  return { child, done };
}

const vmRow = '[data-testid="actor"][data-machine="vm"][data-name="sandbox"]';

async function shot(page: Page, name: string) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

describe.skipIf(!haveChromium)("the inspector in headless Chromium", () => {
  it("shows a run's sandbox go ready → busy → destroyed, survives a cut connection with the current state, and an approval clicked in the page applies the change", async () => {
    const inspector = await startInspector();
    const net = await relay(inspector.port);
    cleanup.push(() => net.close());
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
    });
    cleanup.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    // Anything but our own origin would be the page reaching for the internet.
    const foreign: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(`http://127.0.0.1:${net.port}/`) && !r.url().startsWith(`ws://127.0.0.1:${net.port}/`)) foreign.push(r.url());
    });
    await page.goto(inspector.url.replace(`:${inspector.port}/`, `:${net.port}/`));
    await page.locator('[data-testid="connection"]', { hasText: "live" }).waitFor();

    const { dir, script } = project();
    const before = readFileSync(join(dir, "src", "cart.js"), "utf8");
    const run = runInspected(dir, script);
    cleanup.push(async () => (await run.child).kill("SIGKILL"));

    // The sandbox, live: busy while the scripted `sleep 6` runs.
    const sandbox = page.locator(vmRow);
    await page.locator(`${vmRow}[data-value="running.busy"]`).waitFor({ timeout: 60_000 });
    await sandbox.click();
    await page.locator('[data-testid="chart"] svg').waitFor();
    await shot(page, "1-sandbox-busy");
    const key = await sandbox.getAttribute("data-actor-key");

    // Cut the page's connection while the sandbox is busy, and keep it cut until the sandbox
    // has moved on: what the page shows then can only come from the state it gets on reconnect.
    net.cut();
    await page.locator('[data-testid="connection"]', { hasNotText: "live" }).waitFor();
    const [processId, actorId] = key!.split("/");
    let now: string | undefined;
    await expect
      .poll(
        async () => {
          const s = await hubState(inspector.url);
          now = JSON.stringify(s.actors.find((a) => a.process === processId && a.actor.id === actorId)?.actor.value);
          return now !== JSON.stringify({ running: "busy" }) && now !== undefined;
        },
        { timeout: 60_000 },
      )
      .toBe(true);
    await shot(page, "2-disconnected");
    net.restore();
    await page.locator('[data-testid="connection"]', { hasText: "live" }).waitFor({ timeout: 30_000 });
    // The stale "busy" is gone without any further change of the sandbox being needed.
    await expect.poll(() => page.locator(`[data-actor-key="${key}"]`).first().getAttribute("data-value")).not.toBe("running.busy");

    // The final diff waits at the cliff; the card shows the hash the approval will carry.
    const card = page.locator('[data-testid="approval"]');
    await card.waitFor({ timeout: 60_000 });
    const shownHash = await card.getAttribute("data-action-hash");
    const pending = (await hubState(inspector.url)).actors.find((a) => a.actor.approval !== null)!.actor;
    expect(shownHash).toBe(pending.approval!.actionHash);
    await expect(card.textContent()).resolves.toContain("src/cart.js");
    await shot(page, "3-approval");
    await card.locator('[data-testid="approve"]').click();
    await page.locator('[data-testid="answer"][data-ok="true"]').waitFor();

    // The run applies exactly the approved change, and ends.
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain("waiting for an answer in the inspector");
    const after = readFileSync(join(dir, "src", "cart.js"), "utf8");
    expect(after).not.toBe(before);
    expect(after).toContain(FIXED_LINE);

    // The page shows the sandbox destroyed, and its history in order.
    await page.locator(`[data-actor-key="${key}"][data-value="destroyed"]`).first().waitFor({ timeout: 30_000 });
    await page.locator(`[data-actor-key="${key}"]`).first().click();
    const states = await page.locator('[data-testid="log"] [data-testid="log-entry"][data-kind="state"]').allTextContents();
    const order = ["running.ready", "running.busy", "destroyed"].map((s) => states.findIndex((t) => t.includes(s)));
    expect(
      order.every((i) => i >= 0),
      states.join(" | "),
    ).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    await shot(page, "4-destroyed");
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("a wrong token gets a 401 page and no data in the browser too", async () => {
    const inspector = await startInspector();
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    cleanup.push(() => browser.close());
    const page = await browser.newPage();
    const response = await page.goto(inspector.url.replace(/token=[^&]+/, "token=not-the-token"));
    expect(response?.status()).toBe(401);
    expect(await page.locator('[data-testid="actor"]').count()).toBe(0);
  });
});
