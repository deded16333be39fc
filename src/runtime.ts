// The composition root: drivers, the state directory, the provided machines and the root
// orchestrator actor, wired together once. Everything the CLI (and tests) run goes through it.
import { join } from "node:path";
import { createActor, type Actor, type InspectionEvent, type Observer } from "xstate";
import { BubblewrapDriver, findBwrap } from "../actors/sandbox/bubblewrap.driver.ts";
import { findFirecracker, FirecrackerDriver, jailerConfig } from "../actors/sandbox/firecracker.driver.ts";
import { findImage, imageInputs } from "../actors/sandbox/guest-image.ts";
import { findQemu, QemuDriver } from "../actors/sandbox/qemu.driver.ts";
import { kvmAccelerator } from "../actors/sandbox/kvm-probe.ts";
import { GvisorDriver } from "../actors/sandbox/gvisor.driver.ts";
import { isAlive } from "../actors/sandbox/host-process.ts";
import { destroyProcessSandboxSync, type DriverEnv } from "../actors/sandbox/process-sandbox.ts";
import type { SandboxRecord } from "../actors/sandbox/sandbox-driver.ts";
import { SandboxStore } from "../actors/sandbox/sandbox-store.ts";
import { slotActors } from "../actors/sandbox/slot.actors.ts";
import { vmActors, type DriverRegistry } from "../actors/sandbox/vm.actors.ts";
import { heldSandboxes as slotHeld, snapshotSlotMachine } from "../machines/snapshot-slot.machine.ts";
import { createPool, type Pool } from "./pool.ts";
import { createMcpHub, orchestratorConnections, type McpHub } from "../actors/mcp/mcp-hub.ts";
import type { McpServerConfig } from "../core/mcp-server.ts";
import { mcpConnectionActors } from "../actors/mcp/mcp-connection.actors.ts";
import { MCP_SANDBOX_LIMITS } from "../actors/mcp/mcp-sandboxed.transport.ts";
import type { ElicitHandler, SessionHooks } from "../actors/mcp/mcp-session.ts";
import { mcpConnectionMachine } from "../machines/mcp-connection.machine.ts";
import { agentSessionMachine } from "../machines/agent-session.machine.ts";
import { agentSessionActors, type SessionServices } from "../actors/session/agent-session.actors.ts";
import { orchestratorMachine, type OrchestratorEmitted, type OrchestratorInput, type OrchestratorOutput } from "../machines/orchestrator.machine.ts";
import { heldSandboxes as vmHeld, vmMachine } from "../machines/vm.machine.ts";
import { sessionSandboxId } from "../core/ids.ts";
import { sessionSandboxId as mcpHeld } from "../actors/mcp/session-handle.ts";
import type { Logger } from "./logger.ts";
import { guestAgentPath, runDir, stateDir } from "../core/paths.ts";
import { selectMountingBackend, type Drivers } from "./backend-select.ts";
import { loadSettings } from "./config/settings.ts";
import { dottedState } from "../core/state-value.ts";

export interface RuntimeOptions {
  readonly logger: Logger;
  readonly orchestrator?: OrchestratorInput;
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** The MCP servers connections may be made to, and how to ask the user (elicitation). */
  readonly mcp?: { readonly servers: readonly McpServerConfig[]; readonly elicit?: ElicitHandler; readonly oauth?: SessionHooks["oauth"] };
  /** What agent sessions use (`ironclaw run`): the model, the policy, the audit log, the project. */
  readonly session?: SessionServices;
}

export interface Runtime {
  /** A driver for every backend. */
  readonly drivers: Drivers;
  readonly store: SandboxStore;
  readonly env: DriverEnv;
  readonly orchestrator: Actor<typeof orchestratorMachine>;
  /** Resolves with the orchestrator's output once it has stopped and every own sandbox is gone. */
  readonly stopped: Promise<OrchestratorOutput>;
  readonly pool: Pool;
  readonly mcp: McpHub;
  /** Removes sandboxes left by IronClaw processes that no longer run. */
  reapLeftovers(): Promise<SandboxRecord[]>;
  /** Last resort for process exit: synchronously kill whatever this process still has. */
  sweepSync(): void;
}

export function createDriverEnv(): DriverEnv {
  return {
    store: new SandboxStore(join(stateDir(), "sandboxes")),
    runDir: runDir(),
    nodePath: process.execPath,
    agentPath: guestAgentPath(),
  };
}

export function createDrivers(env: DriverEnv): Drivers {
  const image = () => findImage(imageInputs(env));
  // KVM or TCG, decided by a real boot once per image and QEMU, remembered in the state dir.
  const accelerator = () => kvmAccelerator(image(), join(stateDir(), "kvm-probe.json"));
  const snapshots = () => {
    const { pool } = loadSettings();
    return { dir: pool.snapshotPath, refreshMs: pool.snapshotRefreshSecs * 1000 };
  };
  return {
    firecracker: new FirecrackerDriver({
      ...env,
      image,
      firecracker: () => findFirecracker(),
      jailer: (firecracker) => jailerConfig(firecracker),
      // The same cached KVM boot probe qemu's accelerator comes from; QEMU runs it, so without
      // QEMU there is no answer (and Firecracker's own probe boot, bounded, decides).
      // The KVM probe runs QEMU in its bubblewrap jail: without bubblewrap it cannot answer.
      kvmBoots: async () => (findQemu() && findBwrap() ? (await accelerator()) === "kvm" : null),
      snapshots,
    }),
    qemu: new QemuDriver({
      ...env,
      image,
      accelerator,
      snapshots,
    }),
    gvisor: new GvisorDriver(env),
    namespace: new BubblewrapDriver(env),
  };
}

/**
 * The sandboxes an actor that ended without teardown may have left, as its machine says
 * (heldSandboxes): a vm's own, or the leased one it adopted; a slot's current generation; a
 * session's vm; a sandboxed MCP server's (its session's, which only the session's owner knows).
 */
export function sandboxesHeld(reap: Extract<OrchestratorEmitted, { type: "child.reap" }>): string[] {
  if (!reap.context) return [];
  switch (reap.src) {
    case "vm":
      return vmHeld(reap.context);
    case "slot":
      return slotHeld(reap.context);
    // A session's sandbox is its vm child, named after the session.
    case "session":
      return [sessionSandboxId(reap.context.id)];
    case "mcp": {
      const held = mcpHeld(reap.context.session);
      return held ? [held] : [];
    }
  }
}

/**
 * The agent-session machine with its effects: its sandbox a vm like any other, its MCP
 * connections its own. Its approval requests need none: they only decide.
 */
function sessionMachine(actors: ReturnType<typeof agentSessionActors>, drivers: DriverRegistry, store: SandboxStore, mcp: typeof mcpConnectionMachine) {
  return agentSessionMachine.provide({
    actors: {
      ...actors,
      sandbox: vmMachine.provide({ actors: vmActors(drivers, store) }),
      mcp,
    },
  });
}

export function createRuntime(options: RuntimeOptions): Runtime {
  const { logger } = options;
  const env = createDriverEnv();
  const drivers = createDrivers(env);
  const store = env.store;

  const destroyRecord = async (record: SandboxRecord, why: string) => {
    const driver = drivers[record.backend];
    if (!driver) return logger.warn({ sandbox: record.id, backend: record.backend }, "no driver to reap sandbox");
    try {
      await driver.destroy(record);
      logger.info({ sandbox: record.id, why }, "reaped sandbox");
    } catch (err) {
      logger.error({ sandbox: record.id, err }, "failed to reap sandbox");
    }
  };
  const ownRecords = () => store.list().filter((r) => r.owner.pid === process.pid);

  const sessionActors = options.session ? agentSessionActors(options.session) : null;
  // One MCP connection machine with its effects, for the runtime's connections and sessions' own.
  const mcpMachine = mcpConnectionMachine.provide({
    actors: mcpConnectionActors(new Map((options.mcp?.servers ?? []).map((s) => [s.name, s])), {
      logger,
      ...(options.mcp?.elicit && { elicit: options.mcp.elicit }),
      ...(options.mcp?.oauth && { oauth: options.mcp.oauth }),
      sandbox: (requested) => selectMountingBackend(requested, drivers),
      // The CPU limit every sandbox gets by default; read when a server starts, like the snapshot settings.
      sandboxLimits: () => ({ ...MCP_SANDBOX_LIMITS, cpus: loadSettings().sandbox.cpus }),
    }),
  });
  const machine = orchestratorMachine.provide({
    actors: {
      vm: vmMachine.provide({ actors: vmActors(drivers, store) }),
      slot: snapshotSlotMachine.provide({ actors: slotActors(drivers, store) }),
      mcp: mcpMachine,
      session: options.session && sessionActors ? sessionMachine(sessionActors, drivers, store, mcpMachine) : agentSessionMachine,
    },
  });
  // Every state change of every actor goes to the debug log: the lifecycle of each sandbox can
  // be read back from the log file (and watched live with --verbose).
  const lastState = new Map<string, string>();
  const inspect = (event: InspectionEvent) => {
    if (event.type === "@xstate.snapshot") {
      const actor = (event.actorRef as { id?: string }).id ?? "?";
      const value = dottedState((event.snapshot as { value?: unknown }).value ?? event.snapshot.status);
      if (lastState.get(actor) !== value) {
        lastState.set(actor, value);
        logger.debug({ actor, state: value }, "state");
      }
      // A daemon sees an endless stream of actors: forget each one when it ends.
      if (event.snapshot.status !== "active") lastState.delete(actor);
    }
    if (typeof options.inspect === "function") options.inspect(event);
    else options.inspect?.next?.(event);
  };
  const orchestrator = createActor(machine, { input: options.orchestrator ?? {}, inspect });
  const pendingReaps = new Set<Promise<void>>();
  orchestrator.on("child.reap", (event) => {
    for (const id of sandboxesHeld(event)) {
      const record = store.read(id);
      if (!record) continue;
      const p = destroyRecord(record, `actor ${event.actorId} ended without teardown`).finally(() => pendingReaps.delete(p));
      pendingReaps.add(p);
    }
  });
  orchestrator.on("child.exited", (e) => logger.info(e, "child exited"));

  const stopped = new Promise<OrchestratorOutput>((resolve, reject) => {
    orchestrator.subscribe({
      complete: () => {
        void (async () => {
          await Promise.all(pendingReaps);
          // Belt and braces: anything this process still has recorded is removed before we report stopped.
          for (const record of ownRecords()) await destroyRecord(record, "still recorded at orchestrator stop");
          resolve(orchestrator.getSnapshot().output!);
        })();
      },
      error: (err) => {
        logger.error({ err }, "orchestrator crashed");
        void Promise.all(ownRecords().map((r) => destroyRecord(r, "orchestrator crashed"))).then(() => reject(err));
      },
    });
  });

  const mcp = createMcpHub(orchestratorConnections(orchestrator), options.mcp?.servers ?? []);
  return {
    drivers,
    store,
    env,
    orchestrator,
    stopped,
    pool: createPool(orchestrator),
    mcp,
    async reapLeftovers() {
      const orphans = store.list().filter((r) => r.owner.pid !== process.pid && !isAlive(r.owner));
      for (const record of orphans) await destroyRecord(record, `owner process ${record.owner.pid} is gone`);
      return orphans;
    },
    sweepSync() {
      for (const record of ownRecords()) destroyProcessSandboxSync(env, record.id);
    },
  };
}
