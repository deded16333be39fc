// The root actor: an OTP-style supervisor. Children start in the order they are spawned and
// stop in reverse order, each given a bounded time to tear down before it is stopped by force
// (and reaped through the `child.reap` event). Failures arrive as xstate.error.actor.<id> or as
// a `failed` output; the child's restart policy, the restart intensity and a jittered
// exponential backoff decide what happens next. Timers are XState's own (`after`, delayed
// raise), so tests drive them with a simulated clock.
import { assign, emit, enqueueActions, setup, type AnyActorRef, type ContextFrom } from "xstate";
import { backoffDelay, DEFAULT_SUPERVISION, exceedsIntensity, type RestartPolicy, shouldRestart, type SupervisionPolicy } from "./supervision.ts";
import { snapshotSlotMachine, type SlotInput } from "./snapshot-slot.machine.ts";
import { vmMachine, type VmInput, type VmOutput } from "./vm.machine.ts";
import { mcpConnectionMachine, type McpConnectionInput, type McpConnectionOutput } from "./mcp-connection.machine.ts";
import { agentSessionMachine, type SessionInput, type SessionOutput } from "./agent-session.machine.ts";

/**
 * What the orchestrator supervises. Every kind of child accepts STOP and ends in a final state
 * whose output says `outcome: "normal" | "failed"`; its input carries the id its resources are
 * named by, which a restart extends (`<id>-r<n>`).
 */
export type ChildSpec = {
  readonly id: string;
  readonly restart: RestartPolicy;
  /**
   * What restarts past the intensity limit do: escalate (the default: the whole tree shuts
   * down, as in OTP) or give up on this child alone — for a child whose failure says nothing
   * about the rest, such as a connection to one MCP server.
   */
  readonly onGiveUp?: "escalate" | "remove";
} & (
  | { readonly src: "vm"; readonly input: VmInput }
  | { readonly src: "slot"; readonly input: SlotInput }
  | { readonly src: "mcp"; readonly input: McpConnectionInput }
  | { readonly src: "session"; readonly input: SessionInput }
);

/**
 * A child's last context, by its kind: what the wiring reads the sandboxes it held from (each
 * machine says which, beside itself: heldSandboxes). Null for an actor that never had one.
 */
export type ChildContext =
  | { readonly src: "vm"; readonly context: ContextFrom<typeof vmMachine> | null }
  | { readonly src: "slot"; readonly context: ContextFrom<typeof snapshotSlotMachine> | null }
  | { readonly src: "mcp"; readonly context: ContextFrom<typeof mcpConnectionMachine> | null }
  | { readonly src: "session"; readonly context: ContextFrom<typeof agentSessionMachine> | null };

/** The final output every child kind shares. */
export type ChildOutput = VmOutput | McpConnectionOutput | SessionOutput | { readonly outcome: "normal"; readonly id: string };

type ChildEntry = ChildSpec & {
  ref: AnyActorRef | null;
  /** Restarts inside the current intensity window. */
  recent: number;
  generation: number;
};

export interface OrchestratorInput {
  readonly policy?: Partial<SupervisionPolicy>;
  /** How long one child gets to tear down during shutdown before it is stopped by force. */
  readonly childStopMs?: number;
  /** Source of jitter; injectable so tests are deterministic. */
  readonly random?: () => number;
}

export interface Escalation {
  readonly id: string;
  readonly reason: string;
}

export interface OrchestratorOutput {
  readonly reason: string;
  readonly escalation: Escalation | null;
  /** Children that did not finish teardown in time and were stopped (and reaped) by force. */
  readonly forced: readonly string[];
}

export type OrchestratorEvent =
  | { type: "SPAWN"; child: ChildSpec }
  | { type: "RESTART"; id: string }
  | { type: "FORGET"; id: string }
  | { type: "SHUTDOWN"; reason: string }
  | { type: `xstate.done.actor.${string}`; output: ChildOutput }
  | { type: `xstate.error.actor.${string}`; error: unknown };

export type OrchestratorEmitted =
  | { type: "child.started"; id: string; generation: number }
  /** A child ended without its own teardown (crashed, or stopped by force): whoever wires the
   * machine must remove what that actor's sandbox left on the host. */
  | ({ type: "child.reap"; actorId: string } & ChildContext)
  | { type: "child.exited"; id: string; abnormal: boolean; output: ChildOutput | null; error: string | null; restarting: boolean };

interface OrchestratorContext {
  children: ChildEntry[];
  readonly policy: SupervisionPolicy;
  readonly childStopMs: number;
  readonly random: () => number;
  escalation: Escalation | null;
  reason: string;
  forced: string[];
}

const DONE = "xstate.done.actor.";
const ERROR = "xstate.error.actor.";

function exitedChild(context: OrchestratorContext, type: string): ChildEntry | undefined {
  const actorId = type.startsWith(DONE) ? type.slice(DONE.length) : type.slice(ERROR.length);
  return context.children.find((c) => c.ref?.id === actorId);
}

function lastLive(context: OrchestratorContext): ChildEntry | undefined {
  return context.children.findLast((c) => c.ref !== null);
}

/** The actor id of a child's n-th incarnation: restarts get fresh ids so their sandboxes never collide. */
export function incarnationId(id: string, generation: number): string {
  // Only characters that every backend accepts in names (runsc container ids, cgroups, files).
  return generation === 0 ? id : `${id}-r${generation}`;
}

/**
 * The child's last context goes with the request: only the wiring knows which sandboxes a
 * context's handles name (a slot's current generation, a leased sandbox a vm adopted).
 */
function reapOf(entry: ChildEntry): OrchestratorEmitted {
  // The ref is untyped (AnyActorRef): its context is the one its src's machine keeps.
  return { type: "child.reap", actorId: entry.ref!.id, src: entry.src, context: entry.ref!.getSnapshot().context ?? null };
}

export const orchestratorMachine = setup({
  types: {
    context: {} as OrchestratorContext,
    events: {} as OrchestratorEvent,
    input: {} as OrchestratorInput,
    output: {} as OrchestratorOutput,
    emitted: {} as OrchestratorEmitted,
  },
  actors: { vm: vmMachine, slot: snapshotSlotMachine, mcp: mcpConnectionMachine, session: agentSessionMachine },
  actions: {
    supervise: enqueueActions(({ context, event, enqueue }) => {
      const entry = exitedChild(context, event.type);
      if (!entry) return;
      const crashed = event.type.startsWith(ERROR);
      const output = crashed ? null : (event as { output: ChildOutput }).output;
      const abnormal = crashed || output?.outcome === "failed";
      const error = crashed ? String((event as { error: unknown }).error) : output?.outcome === "failed" ? output.failure.message : null;
      // A crashed machine skipped its own teardown: reap what it may have left.
      if (crashed) enqueue.emit(reapOf(entry));
      // A finished actor stays in the parent's children until stopped; release it.
      enqueue.stopChild(entry.ref!);

      // A child that reports its failure as permanent is not restarted (OTP's `shutdown` exit).
      const permanent = output?.outcome === "failed" && "permanent" in output.failure && output.failure.permanent === true;
      const restart = shouldRestart(entry.restart, abnormal) && !permanent;
      const givingUp = restart && exceedsIntensity(context.policy, entry.recent);
      if (givingUp && entry.onGiveUp === "remove") {
        enqueue.assign({ children: context.children.filter((c) => c !== entry) });
        const reason = `${entry.id} failed ${entry.recent + 1} times within ${context.policy.withinMs} ms; not restarted again${error ? `: ${error}` : ""}`;
        enqueue.emit({ type: "child.exited", id: entry.id, abnormal, output, error: reason, restarting: false });
        return;
      }
      if (givingUp) {
        enqueue.assign({
          children: context.children.map((c) => (c === entry ? { ...c, ref: null } : c)),
          escalation: {
            id: entry.id,
            reason: `${entry.id} failed ${entry.recent + 1} times within ${context.policy.withinMs} ms${error ? `: ${error}` : ""}`,
          },
        });
      } else if (restart) {
        const delay = backoffDelay(context.policy, entry.recent, context.random);
        enqueue.assign({ children: context.children.map((c) => (c === entry ? { ...c, ref: null, recent: c.recent + 1 } : c)) });
        enqueue.raise({ type: "RESTART", id: entry.id }, { delay });
        enqueue.raise({ type: "FORGET", id: entry.id }, { delay: context.policy.withinMs });
      } else {
        enqueue.assign({ children: context.children.filter((c) => c !== entry) });
      }
      enqueue.emit({ type: "child.exited", id: entry.id, abnormal, output, error, restarting: restart && !exceedsIntensity(context.policy, entry.recent) });
    }),
    removeExited: enqueueActions(({ context, event, enqueue }) => {
      const entry = exitedChild(context, event.type);
      if (!entry) return;
      const crashed = event.type.startsWith(ERROR);
      const output = crashed ? null : (event as { output: ChildOutput }).output;
      if (crashed) enqueue.emit(reapOf(entry));
      enqueue.stopChild(entry.ref!);
      enqueue.assign({ children: context.children.filter((c) => c !== entry) });
      enqueue.emit({
        type: "child.exited",
        id: entry.id,
        abnormal: crashed || output?.outcome === "failed",
        output,
        error: crashed ? String((event as { error: unknown }).error) : output?.outcome === "failed" ? output.failure.message : null,
        restarting: false,
      });
    }),
  },
  delays: {
    childStopTimeout: ({ context }) => context.childStopMs,
  },
  guards: {
    noLiveChildren: ({ context }) => !context.children.some((c) => c.ref !== null),
    escalated: ({ context }) => context.escalation !== null,
    isNewChild: ({ context, event }) => event.type === "SPAWN" && !context.children.some((c) => c.id === event.child.id),
  },
}).createMachine({
  id: "orchestrator",
  context: ({ input }) => ({
    children: [],
    policy: { ...DEFAULT_SUPERVISION, ...input.policy },
    childStopMs: input.childStopMs ?? 15_000,
    random: input.random ?? Math.random,
    escalation: null,
    reason: "",
    forced: [],
  }),
  initial: "running",
  states: {
    running: {
      on: {
        SPAWN: {
          guard: "isNewChild",
          actions: [
            assign({
              children: ({ context, event, spawn }) => [
                ...context.children,
                { ...event.child, ref: spawn(event.child.src, { id: event.child.id, input: event.child.input } as never), recent: 0, generation: 0 },
              ],
            }),
            emit(({ event }) => ({ type: "child.started" as const, id: event.child.id, generation: 0 })),
          ],
        },
        RESTART: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const entry = context.children.find((c) => c.id === event.id && c.ref === null);
            if (!entry) return;
            const generation = entry.generation + 1;
            const actorId = incarnationId(entry.id, generation);
            enqueue.assign({
              children: ({ spawn }) =>
                context.children.map((c) =>
                  c === entry ? { ...c, generation, ref: spawn(c.src, { id: actorId, input: { ...c.input, id: incarnationId(c.input.id, generation) } } as never) } : c,
                ),
            });
            enqueue.emit({ type: "child.started", id: entry.id, generation });
          }),
        },
        FORGET: {
          actions: assign({
            children: ({ context, event }) => context.children.map((c) => (c.id === event.id ? { ...c, recent: Math.max(0, c.recent - 1) } : c)),
          }),
        },
        "xstate.done.actor.*": { actions: "supervise" },
        "xstate.error.actor.*": { actions: "supervise" },
        SHUTDOWN: { target: "shuttingDown", actions: assign({ reason: ({ event }) => event.reason }) },
      },
      always: { guard: "escalated", target: "shuttingDown" },
    },
    shuttingDown: {
      // Pending restarts are abandoned; live children are stopped last-started first.
      entry: [
        assign({ children: ({ context }) => context.children.filter((c) => c.ref !== null) }),
        enqueueActions(({ context, enqueue }) => {
          const child = lastLive(context);
          if (child) enqueue.sendTo(child.ref!, { type: "STOP" });
        }),
      ],
      always: { guard: "noLiveChildren", target: "stopped" },
      after: {
        childStopTimeout: {
          target: "shuttingDown",
          reenter: true,
          actions: enqueueActions(({ context, enqueue }) => {
            const child = lastLive(context);
            if (!child) return;
            enqueue.emit(reapOf(child));
            enqueue.stopChild(child.ref!);
            enqueue.assign({
              children: context.children.filter((c) => c !== child),
              forced: [...context.forced, child.id],
            });
            // Whoever waits for this child's end (a job, a client) must hear of it.
            const error = `stopped by force: its teardown took longer than ${context.childStopMs} ms`;
            enqueue.emit({ type: "child.exited", id: child.id, abnormal: true, output: null, error, restarting: false });
          }),
        },
      },
      on: {
        "xstate.done.actor.*": { target: "shuttingDown", reenter: true, actions: "removeExited" },
        "xstate.error.actor.*": { target: "shuttingDown", reenter: true, actions: "removeExited" },
        SHUTDOWN: {},
        SPAWN: {},
      },
    },
    stopped: { type: "final" },
  },
  output: ({ context }) => ({
    reason: context.escalation ? `escalated: ${context.escalation.reason}` : context.reason,
    escalation: context.escalation,
    forced: context.forced,
  }),
});

export type OrchestratorMachine = typeof orchestratorMachine;
