// The coverage check of the model-based tests, checked itself: it must name a state that no
// path reaches (so a state added to a machine without a way to test it fails its model test),
// count transient states left by an `always` as reached, tell guarded transitions apart, and
// count the transitions xstate derives from invoke results and timers. And every machine must
// have a model-based test that uses it.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fromPromise, setup } from "xstate";
import { modelCoverage } from "../support/model-coverage.ts";
import { createMachineTestModel, transitionPaths } from "../support/test-model.ts";

/** A small machine; no transition leads into `orphan`. */
function lightMachine(withOrphan: boolean) {
  return setup({
    types: { events: {} as { type: "GO" } | { type: "HALT"; hard: boolean } },
    actors: { warm: fromPromise(async () => "warm") },
    guards: { hard: ({ event }) => event.type === "HALT" && event.hard },
  }).createMachine({
    id: "light",
    initial: "off",
    states: {
      off: { always: "warming" },
      warming: {
        invoke: { id: "warm", src: "warm", onDone: "on" },
        after: { 1000: "broken" },
      },
      on: {
        initial: "dim",
        states: { dim: { on: { GO: "bright" } }, bright: {} },
        on: { HALT: [{ guard: "hard", target: "broken" }, { target: "halted" }] },
      },
      ...(withOrphan && { orphan: { on: { GO: "halted" } } }),
      halted: { type: "final" },
      broken: { type: "final" },
    },
  });
}
const light = lightMachine(true);

const key = (s: { value: unknown }) => JSON.stringify(s.value);
const name = (e: { type: string; hard?: boolean }) => `${e.type}${e.hard === undefined ? "" : e.hard ? "(hard)" : "(soft)"}`;
/** The paths a model test would replay when it sends `events` (the walk also offers every other event the machine names, bare: left out here). */
const walk = (machine: typeof light, events: Array<{ type: string; hard?: boolean }>) =>
  transitionPaths(createMachineTestModel(machine, { events: events as never, serializeState: key as never }) as never, key as never, name as never, (_, e) =>
    events.some((x) => x.type === e.type),
  );

describe("model coverage", () => {
  it("names the states no path reaches", () => {
    // `orphan` has no way in; `broken` has, but only by the timer or a hard HALT, never sent here.
    const report = modelCoverage(light, walk(light, [{ type: "xstate.done.actor.warm" }, { type: "GO" }, { type: "HALT", hard: false }]));
    expect(report.states.missing).toEqual(["light.orphan", "light.broken"]);
    expect(report.states.reached).toContain("light.off"); // transient: left by `always` at once
    expect(report.states.reached).toContain("light.on"); // compound: active with its child
  });

  it("reports every state reached when the paths reach them all", () => {
    const reachable = lightMachine(false);
    const events = [{ type: "xstate.done.actor.warm" }, { type: "xstate.after.1000.light.warming" }, { type: "GO" }, { type: "HALT", hard: false }, { type: "HALT", hard: true }];
    const paths = walk(reachable, events);
    const report = modelCoverage(reachable, paths);
    expect(report.states.missing).toEqual([]);
    expect(report.states.reached).toEqual(report.states.all);
    expect(report.transitions.missing).toEqual([]);
    expect(report.transitions.all.map((t) => t.label)).toEqual([
      "light.off  always[0] → light.warming",
      "light.warming  xstate.done.actor.warm[0] → light.on",
      "light.warming  xstate.after.1000.light.warming[0] → light.broken",
      "light.on  HALT[0] (hard) → light.broken",
      "light.on  HALT[1] → light.halted",
      "light.on.dim  GO[0] → light.on.bright",
    ]);
  });

  it("tells guarded transitions apart and counts derived ones (invoke results, timers)", () => {
    const report = modelCoverage(light, walk(light, [{ type: "xstate.done.actor.warm" }, { type: "GO" }, { type: "HALT", hard: false }]));
    expect(report.transitions.missing.map((t) => t.label)).toEqual([
      "light.warming  xstate.after.1000.light.warming[0] → light.broken",
      "light.on  HALT[0] (hard) → light.broken",
      "light.orphan  GO[0] → light.halted",
    ]);
    expect(report.transitions.exercised.map((t) => t.label)).toEqual([
      "light.off  always[0] → light.warming",
      "light.warming  xstate.done.actor.warm[0] → light.on",
      "light.on  HALT[1] → light.halted",
      "light.on.dim  GO[0] → light.on.bright",
    ]);
  });
});

describe("every machine has a model-based test", () => {
  const root = join(import.meta.dirname, "..", "..");
  const machines = readdirSync(join(root, "machines"))
    .filter((f) => f.endsWith(".machine.ts"))
    .map((f) => f.slice(0, -".machine.ts".length));

  it("finds the machines", () => expect(machines.length).toBeGreaterThan(0));

  it.each(machines)("%s has a model-based test that walks it with createTestModel and checks its coverage", (m) => {
    const file = join(root, "tests", "model", `${m}.model.test.ts`);
    const source = existsSync(file) ? readFileSync(file, "utf8") : "";
    const needs: Array<[string, RegExp]> = [
      ["the file itself", /./],
      [`imports machines/${m}.machine.ts`, new RegExp(`from "\\.\\./\\.\\./machines/${m}\\.machine\\.ts"`)],
      [
        "walks it with createMachineTestModel (xstate/graph's createTestModel) from tests/support/test-model.ts",
        /from "\.\.\/support\/test-model\.ts"[\s\S]*\bcreateMachineTestModel\(|\bcreateMachineTestModel\([\s\S]*from "\.\.\/support\/test-model\.ts"/,
      ],
      ["checks it with modelCoverage from tests/support/model-coverage.ts", /from "\.\.\/support\/model-coverage\.ts"/],
      ["calls modelCoverage", /\bmodelCoverage\(/],
    ];
    expect(
      needs.filter(([, re]) => !re.test(source)).map(([what]) => what),
      `tests/model/${m}.model.test.ts`,
    ).toEqual([]);
  });
});
