// `ironclaw run "TASK"`: one agent session under an in-process orchestrator. The model works in
// a throwaway sandbox holding a copy of this directory; green tool calls run at once, red ones
// stop at the approval cliff, where this command shows the diff card and asks (or, when nobody
// can answer, denies and says so); the project's files change only if the final diff is
// approved. Every decision goes to the audit log.
import { createInterface } from "node:readline/promises";
import { nanoid } from "nanoid";
import type { ActorRefFrom, InspectionEvent } from "xstate";
import { AuditLog, auditLogPath } from "../../actors/audit/audit-log.ts";
import { SANDBOX_WORKSPACE } from "../../actors/session/workspace.ts";
import type { agentSessionMachine, SessionOutput } from "../../machines/agent-session.machine.ts";
import type { ApprovalPending } from "../../machines/approval-request.machine.ts";
import { selectBackend } from "../backend-select.ts";
import type { PassedOver } from "../../core/backend-choice.ts";
import { renderCard } from "../../core/card-render.ts";
import type { DiffCard } from "../../core/diff-card.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import { logFile } from "../logger.ts";
import { loadMcpConfig } from "../config/mcp-config.ts";
import { selectModel } from "../model-select.ts";
import { loadPolicyRules } from "../config/policy-rules.ts";
import { signalExitCode } from "../process-guard.ts";
import { approvalRequests } from "../inspector/approval-requests.ts";
import { keepInspector } from "../inspector/inspector-attach.ts";
import { withRuntime } from "../service/with-runtime.ts";
import { configFiles, loadSettings } from "../config/settings.ts";
import { foldLine, oneLine, safeJson, TERMINAL_RESET, terminalColumns, visible } from "../../core/terminal-text.ts";
import { discardTypeahead, say } from "./cli-io.ts";
import { showCard } from "./card-pager.ts";
import { modelTextWriter } from "./model-text.ts";
import { chooseCpus } from "./cpus-choice.ts";
import { projectTrustGate } from "./project-trust-gate.ts";
import { detectCgroups } from "../../actors/sandbox/cgroup.ts";
import { SettingsError, UsageError } from "../../core/errors.ts";

export type ApproveMode = "ask" | "deny" | "auto-green";

export interface RunOptions {
  readonly model?: string;
  readonly script?: string;
  readonly approve?: string;
  readonly backend?: string;
  readonly json: boolean;
  readonly verbose: boolean;
  readonly maxSteps: number;
  readonly maxTokens: number;
  readonly maxMinutes: number;
  /** --cpus as given; absent: the setting sandbox.cpus. */
  readonly cpus?: number;
  /** Serve (or report to) the live inspector, where approvals can be answered too. */
  readonly inspect?: boolean;
}

const SYSTEM = `You are an agent working inside IronClaw, in a throwaway sandbox with no network.
A copy of the user's project is at ${SANDBOX_WORKSPACE}; change it freely with your tools and run its tests there.
Nothing you do reaches the user's files until the end: then your changes are shown to the user as one diff, and applied only if they approve.
Tools from MCP servers may act outside the sandbox; some need the user's approval and may be denied.
When the task is done, stop calling tools and say briefly what you changed and why.`;

function approveMode(value: string | undefined, inspector: boolean): ApproveMode {
  if (value === undefined) return process.stdin.isTTY || inspector ? "ask" : "deny";
  if (value === "ask" || value === "deny" || value === "auto-green") return value;
  throw new UsageError(`--approve must be ask, deny or auto-green, got "${value}"`);
}

const EXIT: Record<SessionOutput["outcome"], number> = {
  done: ExitCode.ok,
  failed: ExitCode.toolError,
  cancelled: ExitCode.interrupted,
  budgetExceeded: ExitCode.timeout,
};

export async function runRun(task: string, opts: RunOptions): Promise<number> {
  if (!task.trim()) throw new UsageError('run needs a task: ironclaw run "fix the failing test"');
  const mode = approveMode(opts.approve, Boolean(opts.inspect));
  const cpus = chooseCpus(opts.cpus);
  await projectTrustGate(); // the project's MCP servers start only once its config is trusted
  let mcp;
  let rules;
  try {
    mcp = loadMcpConfig();
    rules = loadPolicyRules();
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
  const model = await selectModel({ model: opts.model, script: opts.script });
  const color = Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
  // The model's words stream to stderr; each turn ends its line.
  const modelText = modelTextWriter(
    (text) => process.stderr.write(text),
    () => terminalColumns(process.stderr),
  );
  const audit = new AuditLog(auditLogPath());
  // The approval requests of this run, told to the terminal as each is made (XState's inspection
  // announces every actor as it is created, before it starts: its first event is not missed).
  let approvalRequested: (event: InspectionEvent) => void = () => {};
  const approvals: Array<{ summary: string; answer: string }> = [];
  const id = `s${nanoid(10).replace(/[^A-Za-z0-9]/g, "0")}`;
  const ended = await withRuntime(
    {
      verbose: opts.verbose,
      command: "run",
      reason: "run finished",
      inspect: Boolean(opts.inspect),
      observe: (event) => approvalRequested(event),
      onSignal: "orchestrated",
      onCrash: (err) => say(`internal error: ${err.message} (see ${logFile()}); destroying the sandbox`),
      runtime: {
        mcp: { servers: mcp.servers },
        session: {
          projectDir: process.cwd(),
          model,
          mcpServers: mcp.servers,
          onMcpUnavailable: (server, reason) => say(`MCP server ${server} is not available: ${reason}`),
          rules,
          audit,
          // Read when changes are collected, from the project's and the user's config: a project may lower the cap, never raise it.
          changeCap: () => ({
            maxBytes: loadSettings({ cwd: process.cwd() }).workspace.maxChangeMiB * 2 ** 20,
            setting: `workspace.maxChangeMiB in ${configFiles(process.cwd()).user} or IRONCLAW_MAX_CHANGE_MIB`,
          }),
          ...(!opts.json && {
            onText: (_: string, delta: string) => modelText.text(delta),
          }),
        },
      },
    },
    async ({ runtime, service, source }): Promise<{ backend: string; passedOver: readonly PassedOver[]; result: SessionOutput | null } | { failed: number }> => {
      let backend;
      let passedOver: readonly PassedOver[];
      try {
        ({ backend, passedOver } = await selectBackend(opts.backend, runtime.drivers));
      } catch (err) {
        if (err instanceof UsageError) throw err;
        say((err as Error).message);
        return { failed: ExitCode.sandboxFailure };
      }
      if (cpus.explicit) {
        const { cpu } = await detectCgroups();
        if (!cpu.usable) {
          say(`cannot enforce --cpus here: ${cpu.detail}`);
          return { failed: ExitCode.sandboxFailure };
        }
      }
      const inspector = source ? await keepInspector(source, (url) => say(`the inspector went away; this run now serves its own: ${url}`)) : null;
      if (inspector) say(`inspector: ${inspector.url()}${inspector.mode === "linked" ? " (the running ironclaw inspect)" : ""}`);
      const interactive = mode === "ask" && (Boolean(process.stdin.isTTY) || inspector !== null);
      if (mode === "ask" && !interactive) say("not an interactive terminal: actions that need approval will be denied");
      const input = {
        id,
        task,
        system: SYSTEM,
        sandbox: { backend, limits: { memoryMiB: 1024, pidsMax: 512, cpus: cpus.cpus } },
        budgets: { maxSteps: opts.maxSteps, maxTokens: opts.maxTokens, maxWallMs: opts.maxMinutes * 60_000 },
        interactive,
        // The session connects these itself and closes them when it ends.
        mcpServers: mcp.servers.map((s) => s.name),
      };
      try {
        const result = await service.run(input, (session) => {
          approvalRequested = watchApprovals(session, {
            mode,
            interactive,
            terminal: Boolean(process.stdin.isTTY),
            inspector: () => inspector?.url() ?? null,
            color,
            json: opts.json,
            approvals,
          });
          let steps = 0;
          session.subscribe((snap) => {
            if (snap.context.steps === steps) return;
            steps = snap.context.steps;
            modelText.endTurn();
          });
        });
        runtime.orchestrator.send({ type: "SHUTDOWN", reason: "run finished" });
        await runtime.stopped;
        return { backend, passedOver, result };
      } finally {
        // After the stop, so a watching tab gets every actor's last state before the page goes quiet.
        await inspector?.close();
      }
    },
  );
  if ("failed" in ended.value) return ended.value.failed;
  const { backend, passedOver, result } = ended.value;
  if (ended.interrupted) return signalExitCode(ended.interrupted);
  if (!result) {
    say("the session ended without an outcome (see the log)");
    return ExitCode.toolError;
  }
  if (opts.json) {
    process.stdout.write(`${safeJson({ session: id, backend, passedOver, model: model.name, ...result, approvals, audit: auditLogPath() })}\n`);
  } else {
    process.stderr.write("\n");
    say(`session ${result.outcome}: ${result.reason} (${result.steps} steps, ${result.tokens} tokens)`);
    if (result.answer) {
      // The model's last words: behind its gutter on a terminal (after IronClaw's last line, they
      // must not read as IronClaw's); exact, escapes visible, in a pipe.
      if (process.stdout.isTTY) {
        const answer = modelTextWriter(
          (text) => process.stdout.write(text),
          () => terminalColumns(process.stdout),
        );
        answer.text(result.answer.trim());
        answer.endTurn();
      } else process.stdout.write(`${visible(result.answer.trim())}\n`);
    }
  }
  return EXIT[result.outcome];
}

/**
 * At the cliff: show each red action's card, and ask — at the terminal, in the inspector, or
 * both (the first answer wins; the other question is withdrawn) — or deny, when nobody can answer.
 * Each request of the session says itself when it is made (approval.pending) and answered
 * (approval.settled); whoever answered, the request's own outcome is what is recorded.
 * Returns the inspection observer that finds the requests as they are created.
 */
function watchApprovals(
  session: ActorRefFrom<typeof agentSessionMachine>,
  o: {
    mode: ApproveMode;
    interactive: boolean;
    terminal: boolean;
    inspector: () => string | null;
    color: boolean;
    json: boolean;
    approvals: Array<{ summary: string; answer: string }>;
  },
): (event: InspectionEvent) => void {
  const asked = (pending: ApprovalPending, settled: AbortSignal) => {
    const { actionHash, summary } = pending;
    const card = pending.card as DiffCard;
    // The card and the question are IronClaw's: drawn on a reset terminal (whatever was written
    // before), through a pager when longer than the screen, naming only escaped text.
    const render = () => renderCard(card, { color: o.color, width: process.stderr.columns });
    const shown =
      o.interactive && o.terminal
        ? discardTypeahead().then(() => showCard(render(), { page: true }))
        : !o.json || o.interactive
          ? showCard(render(), { page: false })
          : Promise.resolve();
    if (!o.interactive) {
      const why = o.mode === "ask" ? "nobody can approve in a non-interactive run" : `--approve ${o.mode}`;
      if (!o.json) say(`denied: ${summary} (${why})`);
      return; // the request denies itself: it was made non-interactive
    }
    if (!o.terminal) {
      say(`waiting for an answer in the inspector: ${o.inspector()}`);
      return;
    }
    void (async () => {
      await shown;
      if (settled.aborted) return; // answered in the inspector while the card was paged
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      // Ctrl-C at the question is Ctrl-C: readline would only pause; the guard shuts down in order.
      rl.on("SIGINT", () => process.kill(process.pid, "SIGINT"));
      try {
        const reset = process.stderr.isTTY ? TERMINAL_RESET : "";
        const question = `ironclaw: approve ${oneLine(summary)}? [y/N] `;
        const columns = terminalColumns(process.stderr);
        const answer = (await rl.question(`${reset}${columns ? foldLine(question, columns, "  ↳ ") : question}`, { signal: settled })).trim().toLowerCase();
        const yes = answer === "y" || answer === "yes";
        session.send(yes ? { type: "APPROVE", actionHash } : { type: "DENY", reason: "denied at the terminal" });
      } catch (err) {
        if ((err as Error).name !== "AbortError") throw err;
        process.stderr.write("\n"); // answered in the inspector (or the request ended)
      } finally {
        rl.close();
      }
    })();
  };
  // Each request's question, withdrawn when it is settled (answered elsewhere, expired, cancelled).
  const questions = new Map<string, AbortController>();
  return approvalRequests({
    pending(e) {
      if (e.sessionId !== session.id) return;
      const settled = new AbortController();
      questions.set(e.id, settled);
      asked(e, settled.signal);
    },
    settled(e) {
      if (e.sessionId !== session.id) return;
      questions.get(e.id)?.abort();
      questions.delete(e.id);
      o.approvals.push({ summary: e.summary, answer: e.outcome });
    },
  });
}
