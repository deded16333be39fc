// Model-based test of the vm machine: xstate/graph walks the statechart and yields a path to
// every reachable state and then every transition out of it; each path is replayed against a
// real vm actor on the real namespace backend, with faults injected (FaultDriver) or caused
// for real (killing or freezing the sandbox) where the path calls for them. After every
// path the sandbox and all its host resources must be gone.
import { existsSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { createActor, type AnyEventObject, type SnapshotFrom } from "xstate";
import { cgroupDirs } from "../../actors/sandbox/cgroup.ts";
import { vmActors } from "../../actors/sandbox/vm.actors.ts";
import { vmMachine, type VmOutput, type VmTimeouts } from "../../machines/vm.machine.ts";
import { findImage, imageInputs } from "../../actors/sandbox/guest-image.ts";
import { findQemu } from "../../actors/sandbox/qemu.driver.ts";
import type { BackendName } from "../../core/backend.ts";
import { backendsUnderTest, driver, env, limits, sandboxId, signalSandbox } from "../support/backends.ts";
import { FaultDriver, type Faults } from "../support/fault-driver.ts";
import { modelCoverage, recordCoverage } from "../support/model-coverage.ts";
import { createMachineTestModel, stateTrail, transitionPaths } from "../support/test-model.ts";

type VmSnapshot = SnapshotFrom<typeof vmMachine>;
type Step = { event: AnyEventObject; state: VmSnapshot };

const exitResult = { code: 0, signal: null, timedOut: false, truncated: false, outputBytes: 0, durationMs: 0, oomKilled: false };
const teardownReport = { oomKilled: false, pidsExhausted: false };

/** Every event the machine can take: external ones, actor results, and its own `after` timers. */
function eventsFor(): AnyEventObject[] {
  return [
    { type: "xstate.done.actor.provision", output: {} },
    { type: "xstate.error.actor.provision", error: new Error("model") },
    { type: "xstate.done.actor.boot", output: { handle: {}, id: "model", isolation: "model" } },
    { type: "xstate.error.actor.boot", error: new Error("model") },
    { type: "EXEC", job: { argv: ["true"], timeoutMs: 200 } },
    { type: "EXEC.EXITED", result: exitResult },
    { type: "EXEC.FAILED", code: "EPIPE", message: "model", fatal: true },
    { type: "EXEC.FAILED", code: "ENOENT", message: "model", fatal: false },
    { type: "SANDBOX.EXITED", code: null, signal: "SIGKILL" },
    { type: "STOP" },
    { type: "xstate.done.actor.shutdown" },
    { type: "xstate.done.actor.teardown", output: teardownReport },
    { type: "xstate.error.actor.teardown", error: new Error("model") },
    ...["provisionTimeout.vm.provisioning", "bootTimeout.vm.booting", "execDeadline.vm.running.busy", "stopTimeout.vm.running.stopping", "teardownTimeout.vm.teardown"].map(
      (t) => ({ type: `xstate.after.${t}` }),
    ),
  ];
}

const key = (s: VmSnapshot) => JSON.stringify([s.value, s.context.failure !== null]);

const MODEL_INPUT = { id: "model", backend: "namespace", limits };
const model = createMachineTestModel(vmMachine, {
  events: eventsFor as never,
  serializeState: key as never,
  input: MODEL_INPUT,
});

const eventName = (e: AnyEventObject) => `${e.type.replace("xstate.", "")}${"fatal" in e ? (e.fatal ? " (fatal)" : " (command only)") : ""}`;

/** What the path needs from the world: injected faults, shortened timers, and the job for EXEC. */
function scenario(steps: Step[]) {
  const faults: Faults = {};
  const timeouts: { -readonly [K in keyof VmTimeouts]?: VmTimeouts[K] } = { execGraceMs: 400 };
  const types = steps.map((s) => s.event.type);
  const has = (prefix: string) => types.some((t) => t.startsWith(prefix));
  // An actor that fails, or that hangs until the machine's timer for it (shortened) fires.
  const script: Array<[string, Faults, Partial<VmTimeouts>?]> = [
    ["xstate.error.actor.provision", { provision: "fail" }],
    ["xstate.after.provisionTimeout", { provision: "hang" }, { provisionMs: 300 }],
    ["xstate.error.actor.boot", { boot: "fail" }],
    ["xstate.after.bootTimeout", { boot: "hang" }, { bootMs: 300 }],
    ["xstate.after.stopTimeout", { shutdown: "hang" }, { stopMs: 300 }],
    ["xstate.error.actor.teardown", { teardown: "fail" }],
    ["xstate.after.teardownTimeout", { teardown: "hang" }, { teardownMs: 500 }],
  ];
  for (const [event, fault, timer] of script) {
    if (!has(event)) continue;
    Object.assign(faults, fault);
    Object.assign(timeouts, timer);
  }
  return { faults, timeouts };
}

/** Replays one path against a real vm actor on `backend`; afterwards nothing of it may remain. */
async function replay(backend: BackendName, steps: Step[]): Promise<void> {
  const { faults, timeouts } = scenario(steps);
  const id = sandboxId("m");
  const fault = new FaultDriver(driver(backend), faults);
  const machine = vmMachine.provide({ actors: vmActors({ [backend]: fault }, env.store) });
  // A VM boots for seconds under TCG: the boot timer is the machine's own default there.
  const actor = createActor(machine, { input: { id, backend, limits, timeouts } });
  const { reach } = stateTrail(actor, key);
  const done = new Promise<VmOutput>((resolve) => actor.subscribe({ complete: () => resolve(actor.getSnapshot().output!) }));
  actor.start();

  for (const [i, step] of steps.entries()) {
    const next = steps[i + 1]?.event.type;
    switch (step.event.type) {
      case "STOP":
        actor.send({ type: "STOP" });
        break;
      case "EXEC": {
        const argv =
          next === "EXEC.EXITED"
            ? ["sh", "-c", "echo model; exit 3"]
            : next === "EXEC.FAILED" && !(steps[i + 1]!.event as { fatal?: boolean }).fatal
              ? ["no-such-command-in-sandbox"]
              : ["sleep", "30"];
        actor.send({ type: "EXEC", job: { argv, timeoutMs: next?.includes("execDeadline") ? 200 : 20_000 } });
        await reach(key(step.state));
        if (next?.includes("execDeadline")) signalSandbox(id, "SIGSTOP"); // a frozen guest cannot enforce its timeout
        if (next === "SANDBOX.EXITED" || (next === "EXEC.FAILED" && (steps[i + 1]!.event as { fatal?: boolean }).fatal)) {
          signalSandbox(id, "SIGKILL"); // the agent dies mid-exec
        }
        break;
      }
      case "SANDBOX.EXITED":
        if (steps[i - 1]?.event.type !== "EXEC") signalSandbox(id, "SIGKILL");
        break;
      default:
        break; // results of the actors and timers: the SUT produces them itself
    }
    await reach(key(step.state));
  }

  if (actor.getSnapshot().status !== "done") actor.send({ type: "STOP" });
  const output = await done;
  expect(output.outcome).toBe(isDeepStrictEqual(steps.at(-1)!.state.value, "destroyed") || actor.getSnapshot().context.failure === null ? "normal" : "failed");
  // Nothing of the sandbox is left on the host, whatever the path.
  expect(env.store.read(id)).toBeUndefined();
  for (const dir of cgroupDirs(1, id).concat(cgroupDirs(2, id))) expect(existsSync(dir)).toBe(false);
}

const paths = transitionPaths(model as never, key, eventName) as Step[][];
const title = (p: Step[]) => p.map((s) => eventName(s.event)).join(" → ");

// Pure (no sandbox needed), so it runs wherever the suite does: a state added to the machine
// that no path reaches fails here, by its id.
describe("vm machine, model coverage of the paths replayed below", () => {
  it("reaches every state of the machine", () => {
    const report = modelCoverage(vmMachine, paths, { input: MODEL_INPUT });
    recordCoverage("vm", report);
    expect(report.states.missing, "states of the vm machine that no path reaches").toEqual([]);
  });
});

describe.skipIf(!backendsUnderTest().includes("namespace"))("vm machine, model-based, on the real namespace backend", () => {
  it.each(paths.map((p) => [title(p), p] as const))("%s", (_, steps) => replay("namespace", steps));
});

/**
 * On a real micro-VM, every path would take minutes of TCG boots: replay the shortest path that
 * ends in each state (state coverage), which still walks a VM through boot, exec, a guest that
 * dies or freezes, and teardown.
 */
function shortestPerState(all: Step[][]): Step[][] {
  const best = new Map<string, Step[]>();
  for (const p of all) {
    const end = key(p.at(-1)!.state);
    if (!best.has(end) || best.get(end)!.length > p.length) best.set(end, p);
  }
  return [...best.values()];
}

const qemuReady = findQemu() !== null && findImage(imageInputs(env)) !== null;
if (!qemuReady) console.warn("skipping the vm model on qemu: QEMU or the guest image is missing (run the README's set-up)");

describe.skipIf(!qemuReady)("vm machine, model-based, on a real QEMU micro-VM (shortest path to each state)", () => {
  it.each(shortestPerState(paths).map((p) => [title(p), p] as const))("%s", (_, steps) => replay("qemu", steps), 120_000);
});
