// IronclawService over a runtime in this process: what `ironclaw exec --no-daemon` and the other
// in-process commands run, and what the daemon serves its socket with. Every check of a request
// (backend, limits) is made here, once, whichever way the request came.
import type { ActorRefFrom } from "xstate";
import { type CgroupSupport, detectCgroups } from "../../actors/sandbox/cgroup.ts";
import { parseBackend, type BackendName } from "../../core/backend.ts";
import { SandboxError, UsageError } from "../../core/errors.ts";
import { transportLabel } from "../../core/mcp-server.ts";
import type { agentSessionMachine, SessionInput, SessionOutput } from "../../machines/agent-session.machine.ts";
import type { OrchestratorEmitted } from "../../machines/orchestrator.machine.ts";
import type { VmLimits } from "../../machines/vm.machine.ts";
import { selectBackend } from "../backend-select.ts";
import { loadSettings, type Settings } from "../config/settings.ts";
import { cpusProblem } from "../cpu-limit.ts";
import { runJob } from "../exec-job.ts";
import type { Logger } from "../logger.ts";
import type { Runtime } from "../runtime.ts";
import type { ExecListener, ExecReport, ExecSpec, IronclawService, McpCallOptions, PoolStats, ServiceStatus } from "./ironclaw-service.ts";
import type { PassedOver } from "../../core/backend-choice.ts";

export interface LocalServiceOptions {
  readonly logger: Logger;
  /** The backend used when a request names none (the daemon's); absent: the strongest that works here. */
  readonly defaultBackend?: BackendName;
  /** The stronger backends passed over when the default was chosen, and why. */
  readonly defaultPassedOver?: readonly PassedOver[];
  /** Pool size, pool limits' CPUs and snapshot refresh; absent: read when needed. */
  readonly settings?: Settings;
  /** The inspector this service reports to (the daemon's). */
  readonly inspector?: { ensure(): Promise<{ url: string; mode: "linked" | "serving" }>; url(): Promise<string | null> };
}

/** The limits pooled sandboxes are made with (exec's defaults); a request for others boots a sandbox of its own. */
export function poolLimits(settings: Settings): VmLimits {
  return { memoryMiB: 512, pidsMax: 256, cpus: settings.sandbox.cpus };
}

export class LocalService implements IronclawService {
  readonly path = "in-process";
  private readonly startedAt = new Date().toISOString();
  private cgroups: Promise<CgroupSupport> | null = null;
  private readonly runtime: Runtime;
  private readonly options: LocalServiceOptions;

  constructor(runtime: Runtime, options: LocalServiceOptions) {
    this.runtime = runtime;
    this.options = options;
  }

  private settings(): Settings {
    return this.options.settings ?? loadSettings();
  }

  /** What this machine's cgroups allow; looked at once. */
  private limitsHere(): Promise<CgroupSupport> {
    return (this.cgroups ??= detectCgroups());
  }

  async exec(spec: ExecSpec, listener: ExecListener = {}, signal?: AbortSignal): Promise<ExecReport> {
    const { runtime } = this;
    const selected = await selectBackend(spec.backend ?? this.options.defaultBackend, runtime.drivers);
    const { backend } = selected;
    const passedOver = spec.backend === undefined && this.options.defaultBackend !== undefined ? (this.options.defaultPassedOver ?? []) : selected.passedOver;
    const cgroups = await this.limitsHere();
    // Limits the user asked for are enforced or the command does not run; defaults only warn.
    if (!cgroups.usable && spec.limitsExplicit) throw new SandboxError("ELIMITS", `cannot enforce --memory/--pids here: ${cgroups.detail}`);
    if (!cgroups.cpu.usable && spec.cpusExplicit) throw new SandboxError("ELIMITS", `cannot enforce --cpus here: ${cgroups.cpu.detail}`);
    const cpus = spec.cpus ?? this.settings().sandbox.cpus;
    const problem = cpusProblem(cpus);
    if (problem) throw new UsageError(`--cpus ${problem}, got ${cpus}`);
    if (!cgroups.usable) listener.warning?.(`the sandbox runs without memory and process limits: ${cgroups.detail}`);
    else if (!cgroups.cpu.usable) listener.warning?.(`the sandbox runs without a CPU limit: ${cgroups.cpu.detail}`);

    const limits: VmLimits = { memoryMiB: spec.memoryMiB, pidsMax: spec.pidsMax, cpus };
    // The pool hands out only a sandbox made with exactly these limits.
    const sandbox = runtime.pool.lease(backend, limits);
    const outcome = await runJob(
      runtime,
      { backend, limits, job: spec.job, ...(sandbox && { sandbox }) },
      {
        onReady: (id, isolation) => {
          this.options.logger.info({ id, isolation }, "sandbox ready");
          listener.ready?.({ sandbox: id, isolation, leased: sandbox !== null, backend });
        },
        ...(listener.output && { onOutput: listener.output }),
      },
      signal,
    );
    return { backend, passedOver, limits: cgroups.usable ? cgroups.detail : `none: ${cgroups.detail}`, outcome };
  }

  async status(): Promise<ServiceStatus> {
    const snap = this.runtime.orchestrator.getSnapshot();
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      backend: this.options.defaultBackend ?? "",
      state: String(snap.value),
      inspector: (await this.options.inspector?.url()) ?? null,
      children: snap.context.children.map((c) => ({
        id: c.id,
        src: c.src,
        state: c.ref ? JSON.stringify((c.ref.getSnapshot() as { value: unknown }).value) : "restarting",
      })),
    };
  }

  readonly pool = {
    warm: async ({ backend, size }: { backend?: string; size?: number }): Promise<void> => {
      const name = backend ? parseBackend(backend) : (this.options.defaultBackend ?? (await selectBackend(undefined, this.runtime.drivers)).backend);
      const settings = this.settings();
      this.runtime.pool.warm({ backend: name, size: size ?? settings.pool.size, limits: poolLimits(settings), refreshMs: settings.pool.snapshotRefreshSecs * 1000 });
    },
    stats: async (): Promise<PoolStats> => {
      const slots = this.runtime.pool.stats();
      return { size: slots.length, ready: slots.filter((s) => s.state === "ready").length, slots };
    },
  };

  readonly mcp = {
    list: async () => ({
      projectDir: process.cwd(),
      servers: this.runtime.mcp.servers.map((s) => {
        const state = this.runtime.mcp.state(s.name);
        return { name: s.name, transport: transportLabel(s), state: state.state, tools: state.tools.length, attempt: state.attempt, lastError: state.lastError };
      }),
    }),
    tools: async (server: string) => {
      const config = this.runtime.mcp.servers.find((s) => s.name === server);
      return (await this.runtime.mcp.ready(server, config?.timeoutMs)).tools;
    },
    call: async (server: string, tool: string, args: Readonly<Record<string, unknown>>, options: McpCallOptions = {}) => {
      const tools = await this.mcp.tools(server);
      if (!tools.some((t) => t.name === tool)) throw new UsageError(`MCP server ${server} has no tool ${tool} (see \`ironclaw mcp tools ${server}\`)`);
      return this.runtime.mcp.call(server, tool, args, options);
    },
  };

  async inspect() {
    if (!this.options.inspector) throw new UsageError("this process has no inspector (use --inspect)");
    return this.options.inspector.ensure();
  }

  run(input: SessionInput, watch?: (session: ActorRefFrom<typeof agentSessionMachine>) => void): Promise<SessionOutput | null> {
    const { orchestrator } = this.runtime;
    const output = new Promise<SessionOutput | null>((resolve) => {
      const sub = orchestrator.on("child.exited", (e: Extract<OrchestratorEmitted, { type: "child.exited" }>) => {
        if (e.id !== input.id) return;
        sub.unsubscribe();
        resolve(e.output as SessionOutput | null);
      });
    });
    orchestrator.send({ type: "SPAWN", child: { id: input.id, src: "session", restart: "temporary", input } });
    // As runJob's (src/exec-job.ts): sent from outside the orchestrator's transitions, so the child is there unless refused.
    const session = orchestrator.getSnapshot().children[input.id] as ActorRefFrom<typeof agentSessionMachine> | undefined;
    if (!session) return Promise.resolve(null);
    watch?.(session);
    return output;
  }
}
