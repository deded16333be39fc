// The composition root: drivers, the state directory, the provided machines and the root
// orchestrator actor, wired together once. Everything the CLI (and tests) run goes through it.
import { join } from "node:path";
import { createActor, type Actor, type InspectionEvent, type Observer } from "xstate";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { BubblewrapDriver, findBwrap } from "../actors/sandbox/bubblewrap.driver.ts";
import { findFirecracker, FirecrackerDriver, jailerConfig } from "../actors/sandbox/firecracker.driver.ts";
import { findImage, type GuestImage, type ImageInputs } from "../actors/sandbox/guest-image.ts";
import { findQemu, QemuDriver } from "../actors/sandbox/qemu.driver.ts";
import { kvmBoots } from "../actors/sandbox/kvm-probe.ts";
import { GvisorDriver } from "../actors/sandbox/gvisor.driver.ts";
import { isAlive } from "../actors/sandbox/host-process.ts";
import { destroyProcessSandboxSync, type DriverEnv } from "../actors/sandbox/process-sandbox.ts";
import type { Sandbox, SandboxRecord } from "../actors/sandbox/sandbox-driver.ts";
import { SandboxStore } from "../actors/sandbox/sandbox-store.ts";
import { slotActors } from "../actors/sandbox/slot.actors.ts";
import { vmActors, type DriverRegistry } from "../actors/sandbox/vm.actors.ts";
import { slotSandboxId, snapshotSlotMachine } from "../machines/snapshot-slot.machine.ts";
import { createPool, type Pool } from "./pool.ts";
import { createMcpHub, orchestratorConnections, type McpHub } from "../actors/mcp/mcp-hub.ts";
import type { McpServerConfig } from "../core/mcp-server.ts";
import { mcpConnectionActors } from "../actors/mcp/mcp-connection.actors.ts";
import { MCP_SANDBOX_LIMITS } from "../actors/mcp/mcp-sandboxed.transport.ts";
import type { ElicitHandler, SessionHooks } from "../actors/mcp/mcp-session.ts";
import { mcpConnectionMachine } from "../machines/mcp-connection.machine.ts";
import { agentSessionMachine } from "../machines/agent-session.machine.ts";
import { approvalRequestMachine } from "../machines/approval-request.machine.ts";
import { agentSessionActors, type SessionServices } from "../actors/session/agent-session.actors.ts";
import { orchestratorMachine, type OrchestratorEmitted, type OrchestratorInput, type OrchestratorOutput } from "../machines/orchestrator.machine.ts";
import { vmMachine } from "../machines/vm.machine.ts";
import type { Logger } from "./logger.ts";
import { guestAgentPath, packageRoot, runDir, stateDir } from "../core/paths.ts";
import { selectMountingBackend } from "./backend-select.ts";
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
  readonly drivers: DriverRegistry;
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

export function createDrivers(env: DriverEnv): DriverRegistry {
  const image = () => findImage(imageInputs(env));
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
      kvmBoots: async () => (findQemu() && findBwrap() ? (await accelerator(image())) === "kvm" : null),
      snapshots,
    }),
    qemu: new QemuDriver({
      ...env,
      image,
      accelerator: () => accelerator(image()),
      snapshots,
    }),
    gvisor: new GvisorDriver(env),
    namespace: new BubblewrapDriver(env),
  };
}

export const imageInputs = (env: Pick<DriverEnv, "nodePath" | "agentPath">): ImageInputs => ({
  nodePath: env.nodePath,
  agentPath: env.agentPath,
  scriptDir: join(packageRoot(), "guest-agent", "image"),
});

/** KVM or TCG, decided once per image and QEMU by a real boot (kvmBoots), remembered in the state dir. */
const probing = new Map<string, Promise<"kvm" | "tcg">>();
function accelerator(image: GuestImage | null): Promise<"kvm" | "tcg"> {
  if (!image) return Promise.resolve("tcg");
  // Slots warming together must not each boot a probe VM.
  let answer = probing.get(image.id);
  if (!answer) {
    answer = probeAccelerator(image).finally(() => probing.delete(image.id));
    probing.set(image.id, answer);
  }
  return answer;
}

async function probeAccelerator(image: GuestImage): Promise<"kvm" | "tcg"> {
  const file = join(stateDir(), "kvm-probe.json");
  // "jailed": an answer from before QEMU ran in its jail (actors/sandbox/qemu-jail.ts) says nothing of KVM inside it.
  const key = `${image.id}|${findQemu()}|${existsSync("/dev/kvm")}|jailed`;
  try {
    const cached = JSON.parse(readFileSync(file, "utf8")) as { key: string; accel: "kvm" | "tcg" };
    if (cached.key === key) return cached.accel;
  } catch {
    // no cache yet
  }
  const accel = (await kvmBoots(image)) ? "kvm" : "tcg";
  try {
    writeFileSync(file, JSON.stringify({ key, accel }), { mode: 0o600 });
  } catch {
    // an unwritable cache only costs a probe next time
  }
  return accel;
}

/**
 * The sandboxes an actor that ended without teardown may have left: a vm's own (its id), or
 * the leased one it adopted; a slot's current generation; a sandboxed MCP server's (its session's).
 */
export function sandboxesHeld(reap: Extract<OrchestratorEmitted, { type: "child.reap" }>): string[] {
  const context = (reap.context ?? {}) as { id?: string; generation?: number; sandbox?: Sandbox | null; record?: SandboxRecord | null };
  const ids = new Set<string>();
  if (context.sandbox) ids.add(context.sandbox.record.id);
  if (context.record) ids.add(context.record.id);
  if (reap.src === "vm" && context.id) ids.add(context.id);
  if (reap.src === "slot" && context.id && context.generation !== undefined) ids.add(slotSandboxId({ id: context.id, generation: context.generation }));
  // A session's sandbox is its vm child, named after the session.
  if (reap.src === "session" && context.id) ids.add(`${context.id}-sandbox`);
  if (reap.src === "mcp") {
    const held = (context as { session?: { sandboxId?: () => string | null } | null }).session?.sandboxId?.();
    if (held) ids.add(held);
  }
  return [...ids];
}

/**
 * The agent-session machine with its effects: its sandbox a vm like any other, its MCP
 * connections its own, its approval requests running only the action a human approved.
 */
function sessionMachine(actors: ReturnType<typeof agentSessionActors>, drivers: DriverRegistry, store: SandboxStore, mcp: typeof mcpConnectionMachine) {
  return agentSessionMachine.provide({
    actors: {
      ...actors,
      sandbox: vmMachine.provide({ actors: vmActors(drivers, store) }),
      approval: approvalRequestMachine.provide({ actors: { execute: actors.execute } }),
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
  orchestrator.on("child.exited", (e) => {
    logger.info(e, "child exited");
    sessionActors?.forget(e.id); // a finished session's copy of the project and unapproved actions
  });

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
