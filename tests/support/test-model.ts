// xstate/graph's TestModel walks machines without running them, so it refuses states that
// invoke actors or wait on `after` timers. This derives the machine's "model": the same
// states and transitions, with each actor result (xstate.done/error.actor.<id>) and each timer
// (xstate.after.<delay>.<state id>) turned into an ordinary event the walk can take. Same
// event names as the real machine, so a path from the model replays against the real actor.
import { createMachine, type AnyStateMachine } from "xstate";
import { createTestModel } from "xstate/graph";

type Config = Record<string, unknown> & {
  id?: string;
  invoke?: unknown;
  after?: Record<string, unknown>;
  on?: Record<string, unknown>;
  states?: Record<string, Config>;
};

/**
 * TestModel offers only events whose type equals one of a state's descriptors, so a wildcard
 * descriptor ("xstate.done.actor.*") must be spelled out as the concrete types a test will send.
 */
export type Wildcards = Record<string, readonly string[]>;

function transform(node: Config, path: string, wildcards: Wildcards): Config {
  const on: Record<string, unknown> = {};
  for (const [type, transition] of Object.entries(node.on ?? {})) {
    for (const concrete of wildcards[type] ?? [type]) on[concrete] = transition;
  }
  const invokes = node.invoke ? (Array.isArray(node.invoke) ? node.invoke : [node.invoke]) : [];
  for (const inv of invokes as Array<{ id: string; onDone?: unknown; onError?: unknown }>) {
    if (inv.onDone) on[`xstate.done.actor.${inv.id}`] = inv.onDone;
    if (inv.onError) on[`xstate.error.actor.${inv.id}`] = inv.onError;
  }
  for (const [delay, transition] of Object.entries(node.after ?? {})) on[`xstate.after.${delay}.${path}`] = transition;
  const { invoke: _invoke, after: _after, ...rest } = node;
  const states = node.states
    ? Object.fromEntries(Object.entries(node.states).map(([name, child]) => [name, transform(child, `${path}.${name}`, wildcards)]))
    : undefined;
  return { ...rest, on, ...(states && { states }) };
}

export function modelMachine<M extends AnyStateMachine>(machine: M, wildcards: Wildcards = {}): M {
  const config = machine.config as Config;
  return createMachine(transform(config, config.id ?? "(machine)", wildcards) as never, machine.implementations as never) as unknown as M;
}

export function createMachineTestModel<M extends AnyStateMachine>(
  machine: M,
  options: Parameters<typeof createTestModel<M>>[1],
  wildcards: Wildcards = {},
) {
  return createTestModel(modelMachine(machine, wildcards), options);
}
