// The effects behind machines/agent-session.machine.ts: the workspace copied in and collected
// back, the model asked, each tool call judged by the policy (with its diff card and action
// hash), green calls run in the session's sandbox, and red ones kept ready for their approval
// request to run — bound to the hash a human approved, so only that exact action can run.
// Every decision goes to the audit log.
import { applyPatch } from "diff";
import { fromPromise, type AnyActorRef } from "xstate";
import type { SandboxHandle } from "../../machines/vm.machine.ts";
import type { ApprovalRecord, McpChildren, ToolDecision, ToolResult, WorkspaceChanges } from "../../machines/agent-session.machine.ts";
import { createMcpHub, type McpHub } from "../mcp/mcp-hub.ts";
import type { McpServerConfig } from "../../core/mcp-server.ts";
import { actionHash, execCard, filesCard, mcpCard, type DiffCard } from "../../core/diff-card.ts";
import { sha256Hex } from "../../core/hash.ts";
import { decide, type PolicyAction, type PolicyRule } from "../../core/policy.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { ModelMessage, ModelProvider, ModelTurn, ToolCall, ToolSpec } from "../../core/model.ts";
import type { Sandbox } from "../sandbox/sandbox-driver.ts";
import { execOnVm } from "./vm-job.ts";
import { saveFullDiff } from "./full-diff-file.ts";
import { collectChanges, copyIntoSandbox, SANDBOX_WORKSPACE, snapshotProject, type SandboxBaseline, type WorkspaceSnapshot } from "./workspace.ts";
import { applyChanges } from "./workspace-apply.ts";
import { approvalAuditAction } from "../audit/approval-audit-action.ts";

import { sandboxOf as asSandbox } from "../sandbox/sandbox-handle.ts";
const OUTPUT_LIMIT = 16 * 1024;

/** The tools every session has, run inside its sandbox. */
export const BUILTIN_TOOLS: readonly ToolSpec[] = [
  {
    name: "exec",
    description: `Run a command in the sandbox (no network). The project is at ${SANDBOX_WORKSPACE}. Returns exit code, stdout and stderr.`,
    inputSchema: {
      type: "object",
      properties: {
        argv: { type: "array", items: { type: "string" }, description: 'the program and its arguments, e.g. ["npm", "test"]; use ["sh", "-c", "…"] for a shell' },
        cwd: { type: "string", description: `working directory (default ${SANDBOX_WORKSPACE})` },
        timeoutSecs: { type: "number", description: "kill the command after this long (default 120)" },
      },
      required: ["argv"],
    },
  },
  { name: "read_file", description: "Read a text file in the sandbox.", inputSchema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } },
  {
    name: "write_file",
    description: "Write a text file in the sandbox (creating directories). Changes to the project come back to the host only after approval.",
    inputSchema: { type: "object", properties: { path: { type: "string" }, content: { type: "string" } }, required: ["path", "content"] },
  },
  { name: "list_dir", description: "List a directory in the sandbox.", inputSchema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } },
  {
    name: "apply_patch",
    description: "Apply a unified diff to one file in the sandbox.",
    inputSchema: { type: "object", properties: { path: { type: "string" }, patch: { type: "string" } }, required: ["path", "patch"] },
  },
];

/** MCP tools appear to the model as `<server>__<tool>`. */
const MCP_SEPARATOR = "__";

export interface SessionServices {
  readonly projectDir: string;
  readonly model: ModelProvider;
  /** The configured MCP servers; each session connects its own (machines/agent-session.machine.ts). */
  readonly mcpServers: readonly McpServerConfig[];
  readonly rules: readonly PolicyRule[];
  readonly audit: AuditLog;
  /**
   * How many bytes of changes may come back, and the setting that says so (for the card's note).
   * Asked when changes are collected, not when the session starts: the config may change between.
   */
  readonly changeCap: () => { readonly maxBytes: number; readonly setting: string };
  readonly onText?: (sessionId: string, delta: string) => void;
  /** Told about a configured MCP server that did not come up for the session. */
  readonly onMcpUnavailable?: (server: string, reason: string) => void;
  /** Told about each red action as it waits, with its card (the terminal shows it). */
  readonly onApprovalNeeded?: (sessionId: string, request: { actionHash: string; card: DiffCard; summary: string }) => void;
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== "string") throw new Error(`${what} must be a string`);
  return v;
};
/**
 * The model picks an exec's timeout. 0 (no limit, to the guest), a negative or a huge value would
 * leave the command unbounded or trip the vm's exec deadline at once: below 1 s it gets the
 * default, 120 s; above a day, a day.
 */
const execTimeoutSecs = (asked: unknown) => (typeof asked === "number" && asked >= 1 ? Math.min(asked, 24 * 3600) : 120);
const inWorkspace = (path: string) => (path.startsWith("/") ? path : `${SANDBOX_WORKSPACE}/${path}`);
const clip = (text: string) => (text.length > OUTPUT_LIMIT ? `${text.slice(0, OUTPUT_LIMIT)}\n… (${text.length - OUTPUT_LIMIT} more characters cut)` : text);

/** Where a tool runs: the sandbox (files, through its guest channel) and its vm actor (commands). */
interface ToolTarget {
  readonly sandbox: Sandbox;
  readonly vm: AnyActorRef | undefined;
}

async function runBuiltin(target: ToolTarget, call: ToolCall): Promise<ToolResult> {
  const a = call.arguments;
  const channel = target.sandbox.channel;
  switch (call.name) {
    case "exec": {
      const argv = a.argv;
      if (!Array.isArray(argv) || argv.length === 0 || argv.some((x) => typeof x !== "string")) throw new Error("exec needs argv: a non-empty array of strings");
      if (!target.vm) throw new Error("the session has no sandbox actor to run the command in");
      let stdout = "";
      let stderr = "";
      const exit = await execOnVm(
        target.vm,
        {
          argv: argv as string[],
          cwd: typeof a.cwd === "string" ? inWorkspace(a.cwd) : SANDBOX_WORKSPACE,
          timeoutMs: execTimeoutSecs(a.timeoutSecs) * 1000,
          outputCapBytes: 1 << 20,
        },
        (stream, data) => (stream === "stdout" ? (stdout += data.toString("utf8")) : (stderr += data.toString("utf8"))),
      );
      const status = exit.timedOut ? "timed out" : exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
      return { content: clip(`${status}\n--- stdout\n${stdout}--- stderr\n${stderr}`), isError: exit.code !== 0 };
    }
    case "read_file":
      return { content: clip((await channel.readFile(inWorkspace(str(a.path, "path")))).toString("utf8")), isError: false };
    case "write_file": {
      const path = inWorkspace(str(a.path, "path"));
      await channel.exec({ argv: ["mkdir", "-p", path.slice(0, path.lastIndexOf("/")) || "/"], timeoutMs: 10_000 });
      await channel.writeFile(path, Buffer.from(str(a.content, "content"), "utf8"));
      return { content: `wrote ${path}`, isError: false };
    }
    case "list_dir": {
      const entries = await channel.list(inWorkspace(str(a.path, "path")));
      return { content: entries.map((e) => `${e.kind === "directory" ? `${e.name}/` : e.name}\t${e.size}`).join("\n") || "(empty)", isError: false };
    }
    case "apply_patch": {
      const path = inWorkspace(str(a.path, "path"));
      const before = (await channel.readFile(path)).toString("utf8");
      const after = applyPatch(before, str(a.patch, "patch"));
      if (after === false) return { content: `the patch does not apply to ${path}`, isError: true };
      await channel.writeFile(path, Buffer.from(after, "utf8"));
      return { content: `patched ${path}`, isError: false };
    }
    default:
      throw new Error(`no tool ${call.name}`);
  }
}

const resultText = (result: unknown): ToolResult => {
  const r = result as { content?: Array<{ type: string; text?: string }>; isError?: boolean; structuredContent?: unknown };
  const text = (r.content ?? []).map((c) => (c.type === "text" ? (c.text ?? "") : `[${c.type}]`)).join("\n") || JSON.stringify(r.structuredContent ?? r);
  return { content: clip(text), isError: r.isError === true };
};

/** Per session: the project as copied, and the red actions waiting, by the hash a human would approve. */
interface SessionState {
  snapshot: WorkspaceSnapshot | null;
  /** How the copy looked inside the sandbox: what collection compares with. */
  baseline: SandboxBaseline | null;
  waiting: Map<string, () => Promise<unknown>>;
}

type PolicyActionAnnotations = Extract<PolicyAction, { kind: "mcp" }>["annotations"];

export function agentSessionActors(services: SessionServices) {
  const sessions = new Map<string, SessionState>();
  const state = (id: string): SessionState => {
    let s = sessions.get(id);
    if (!s) sessions.set(id, (s = { snapshot: null, baseline: null, waiting: new Map() }));
    return s;
  };
  /** The session's own connections, as a hub over its children. */
  const hubOf = (children: McpChildren): McpHub =>
    createMcpHub(
      { lookup: (name) => (children[name] as never) ?? null, start: () => {} },
      services.mcpServers.filter((s) => children[s.name]),
    );
  const mcpTools = (mcp: McpHub): ToolSpec[] =>
    mcp.servers.flatMap((server) => {
      const st = mcp.state(server.name);
      return st.tools.map((t) => ({
        name: `${server.name}${MCP_SEPARATOR}${t.name}`,
        description: `[MCP server ${server.name}] ${String(t.description ?? "")}`,
        inputSchema: (t.inputSchema as Record<string, unknown> | undefined) ?? { type: "object" },
      }));
    });

  /** What the policy sees of a call, and what a human would. */
  const describeCall = (call: ToolCall, mcp: McpHub): { action: PolicyAction; card: DiffCard; run: (target: ToolTarget) => Promise<ToolResult> } => {
    const sep = call.name.indexOf(MCP_SEPARATOR);
    if (sep > 0) {
      const server = call.name.slice(0, sep);
      const tool = call.name.slice(sep + MCP_SEPARATOR.length);
      const config = mcp.servers.find((s) => s.name === server);
      const known = config !== undefined;
      const annotations = known ? (mcp.state(server).tools.find((t) => t.name === tool)?.annotations as PolicyActionAnnotations | undefined) : undefined;
      return {
        action: {
          kind: "mcp",
          server,
          tool,
          args: call.arguments,
          ...(annotations && { annotations }),
          trusted: config?.trusted ?? false,
          confined: config?.transport === "stdio" && config.sandbox,
        },
        card: mcpCard({ server, tool, args: call.arguments, ...(annotations && { annotations: annotations as Record<string, boolean | undefined> }) }),
        run: async () => {
          if (!known) throw new Error(`no MCP server ${server} in this session`);
          return resultText(await mcp.call(server, tool, call.arguments));
        },
      };
    }
    const a = call.arguments;
    const path = typeof a.path === "string" ? inWorkspace(a.path) : SANDBOX_WORKSPACE;
    const action: PolicyAction =
      call.name === "exec"
        ? { kind: "exec", argv: Array.isArray(a.argv) ? (a.argv as string[]) : [], cwd: typeof a.cwd === "string" ? a.cwd : SANDBOX_WORKSPACE, envNames: [], network: false }
        : call.name === "read_file" || call.name === "list_dir"
          ? { kind: "file.read", path, scope: "sandbox" }
          : { kind: "file.write", path, scope: "sandbox" };
    const card = action.kind === "exec" ? execCard({ argv: action.argv, cwd: action.cwd, envNames: [], network: false }) : mcpCard({ server: "sandbox", tool: call.name, args: a });
    return { action, card, run: (target) => runBuiltin(target, call) };
  };

  return {
    prepare: fromPromise<ToolSpec[], { sessionId: string; sandbox: SandboxHandle; mcp: McpChildren }>(async ({ input }) => {
      const snapshot = snapshotProject(services.projectDir);
      const mcp = hubOf(input.mcp);
      // Copying and connecting go on together; a server that does not come up offers no tools.
      const [copied, ...ready] = await Promise.allSettled([copyIntoSandbox(asSandbox(input.sandbox).channel, snapshot), ...mcp.servers.map((s) => mcp.ready(s.name, s.timeoutMs))]);
      if (copied!.status === "rejected") throw copied!.reason;
      ready.forEach((r, i) => r.status === "rejected" && services.onMcpUnavailable?.(mcp.servers[i]!.name, (r.reason as Error).message));
      state(input.sessionId).snapshot = snapshot;
      state(input.sessionId).baseline = copied!.value;
      return [...BUILTIN_TOOLS, ...mcpTools(mcp)];
    }),

    think: fromPromise<ModelTurn, { sessionId: string; messages: readonly ModelMessage[]; tools: readonly ToolSpec[] }>(({ input, signal }) =>
      services.model.complete(
        { messages: input.messages, tools: input.tools },
        { signal, ...(services.onText && { onText: (d: string) => services.onText!(input.sessionId, d) }) },
      ),
    ),

    decide: fromPromise<ToolDecision, { sessionId: string; sandbox: SandboxHandle; vm?: AnyActorRef; call: ToolCall; mcp: McpChildren }>(async ({ input }) => {
      const { action, card, run } = describeCall(input.call, hubOf(input.mcp));
      const verdict = decide(action, services.rules);
      const hash = actionHash({ tool: input.call.name, args: input.call.arguments, card });
      const summary = `${input.call.name} ${JSON.stringify(input.call.arguments).slice(0, 120)}`;
      if (verdict.decision === "red") {
        const target = { sandbox: asSandbox(input.sandbox), vm: input.vm };
        state(input.sessionId).waiting.set(hash, async () => (await run(target)).content);
        services.onApprovalNeeded?.(input.sessionId, { actionHash: hash, card, summary });
      } else {
        // Recorded before the verdict is returned: if the record cannot be written, this rejects with
        // the AuditLogError (code EAUDIT) and the session ends without running the call.
        services.audit.append({
          session: input.sessionId,
          action: { tool: input.call.name, args: input.call.arguments },
          actionHash: hash,
          decision: verdict.decision === "green" ? "green" : "denied-by-rule",
          by: "policy",
          reason: verdict.reason,
        });
      }
      return { decision: verdict.decision, reason: verdict.reason, actionHash: hash, card, summary };
    }),

    /** The cliff's answer, to the audit log; an AuditLogError (code EAUDIT) ends the session. */
    recordApproval: fromPromise<void, ApprovalRecord>(async ({ input: { session, output, summary, subject } }) => {
      const decision = output.outcome === "done" || output.outcome === "failed" ? "approved" : output.outcome;
      const reason = output.outcome === "done" ? "approved and applied" : output.outcome === "failed" ? `approved; it failed: ${output.error}` : output.reason;
      const by = output.by === "owner" ? "user" : output.by;
      services.audit.append({ session, action: approvalAuditAction(summary, subject), actionHash: output.actionHash, decision, by, reason });
    }),

    runTool: fromPromise<ToolResult, { sessionId: string; sandbox: SandboxHandle; vm?: AnyActorRef; call: ToolCall; mcp: McpChildren }>(async ({ input }) => {
      return describeCall(input.call, hubOf(input.mcp)).run({ sandbox: asSandbox(input.sandbox), vm: input.vm });
    }),

    collectChanges: fromPromise<WorkspaceChanges | null, { sessionId: string; sandbox: SandboxHandle }>(async ({ input, signal }) => {
      const s = state(input.sessionId);
      if (!s.snapshot || !s.baseline) throw new Error("the workspace was never copied into the sandbox");
      const cap = services.changeCap();
      const { changes, skipped } = await collectChanges(asSandbox(input.sandbox).channel, s.snapshot, s.baseline, { maxBytes: cap.maxBytes, capSetting: cap.setting, signal });
      // Changes that will not be applied still reach a human: the card lists them, with why.
      if (!changes.length && !skipped.length) return null;
      const { card, fullDiff } = await filesCard(changes, skipped, { signal });
      // The file's name is on the card before it is hashed: the approval covers where the full diff is.
      if (fullDiff !== null) card.fullDiffFile = saveFullDiff(input.sessionId, fullDiff);
      const paths = changes.map((c) => c.path);
      // The exact bytes and mode each path gets, beside the card (which shows their hashes too).
      const files = changes.map((c) => ({ path: c.path, after: c.after && { sha256: sha256Hex(c.after), mode: c.afterMode } }));
      const hash = actionHash({ tool: "apply", args: { files }, card });
      const verdict = decide({ kind: "apply", paths }, services.rules);
      if (verdict.decision === "denied") throw new Error(`applying the changes is denied by policy: ${verdict.reason}`);
      const notApplied = skipped.length ? `; ${skipped.length} not applied, listed on the card` : "";
      const summary = changes.length
        ? `apply ${changes.length} changed file(s) to ${services.projectDir}${notApplied}`
        : `nothing to apply to ${services.projectDir}: ${skipped.length} change(s) the sandbox made will not be applied, listed on the card`;
      s.waiting.set(hash, async () => {
        const report = applyChanges(services.projectDir, changes);
        return `applied: ${report.written.length} file(s) written, ${report.deleted.length} deleted`;
      });
      services.onApprovalNeeded?.(input.sessionId, { actionHash: hash, card, summary });
      return { count: changes.length, actionHash: hash, card, summary };
    }),

    /** The approval request's effect: only the action whose hash was approved, once. */
    execute: fromPromise<unknown, { actionHash: string }>(async ({ input }) => {
      for (const s of sessions.values()) {
        const run = s.waiting.get(input.actionHash);
        if (!run) continue;
        s.waiting.delete(input.actionHash);
        return run();
      }
      throw new Error("no action with this hash is waiting: it changed, or already ran");
    }),

    /** Drops what a finished session left here (its snapshot, any action never approved). */
    forget(sessionId: string) {
      sessions.delete(sessionId);
    },
  };
}
