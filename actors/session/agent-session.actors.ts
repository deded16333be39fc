// The effects behind machines/agent-session.machine.ts: the workspace copied in and collected
// back, the model asked, each tool call judged by the policy (with its diff card and action
// hash) once, and an allowed action run from its decision, which the session holds as data:
// a tool call in the session's sandbox (or on its MCP server), or the changes applied to the
// project. Every decision goes to the audit log.
import { applyPatch } from "diff";
import { fromPromise, type AnyActorRef } from "xstate";
import type { SandboxHandle } from "../../machines/vm.machine.ts";
import type { ActionDecision, McpChildren, SessionAction, ToolResult } from "../../machines/agent-session.machine.ts";
import { approvalAuditEntry, type ApprovalRecord } from "../../machines/approval-audit.ts";
import { createMcpHub, type McpHub } from "../mcp/mcp-hub.ts";
import type { McpServerConfig } from "../../core/mcp-server.ts";
import { actionHash, execCard, filesCard, mcpCard, type DiffCard, type FileChange } from "../../core/diff-card.ts";
import { sha256Hex } from "../../core/hash.ts";
import { decide, type PolicyAction, type PolicyRule } from "../../core/policy.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { ModelMessage, ModelProvider, ModelTurn, ToolCall, ToolSpec } from "../../core/model.ts";
import type { Sandbox } from "../sandbox/sandbox-driver.ts";
import { execOnVm } from "./vm-job.ts";
import { saveFullDiff } from "./full-diff-file.ts";
import { collectChanges, copyIntoSandbox, SANDBOX_WORKSPACE, snapshotProject, type SandboxBaseline, type WorkspaceSnapshot } from "./workspace.ts";
import { applyChanges } from "./workspace-apply.ts";
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

/** The project as copied into one session's sandbox: the base every change applies to, and how the copy looked there. */
interface CopiedWorkspace {
  readonly snapshot: WorkspaceSnapshot;
  readonly baseline: SandboxBaseline;
}
const isCopied = (w: unknown): w is CopiedWorkspace => typeof w === "object" && w !== null && "snapshot" in w && "baseline" in w;

type PolicyActionAnnotations = Extract<PolicyAction, { kind: "mcp" }>["annotations"];

export function agentSessionActors(services: SessionServices) {
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

  /** What the policy sees of a call (which also says how it runs), and what a human would. */
  const describeCall = (call: ToolCall, mcp: McpHub): { target: PolicyAction; card: DiffCard } => {
    const sep = call.name.indexOf(MCP_SEPARATOR);
    if (sep > 0) {
      const server = call.name.slice(0, sep);
      const tool = call.name.slice(sep + MCP_SEPARATOR.length);
      const config = mcp.servers.find((s) => s.name === server);
      const annotations = config ? (mcp.state(server).tools.find((t) => t.name === tool)?.annotations as PolicyActionAnnotations | undefined) : undefined;
      return {
        target: {
          kind: "mcp",
          server,
          tool,
          args: call.arguments,
          ...(annotations && { annotations }),
          trusted: config?.trusted ?? false,
          confined: config?.transport === "stdio" && config.sandbox,
        },
        card: mcpCard({ server, tool, args: call.arguments, ...(annotations && { annotations: annotations as Record<string, boolean | undefined> }) }),
      };
    }
    const a = call.arguments;
    const path = typeof a.path === "string" ? inWorkspace(a.path) : SANDBOX_WORKSPACE;
    const target: PolicyAction =
      call.name === "exec"
        ? { kind: "exec", argv: Array.isArray(a.argv) ? (a.argv as string[]) : [], cwd: typeof a.cwd === "string" ? a.cwd : SANDBOX_WORKSPACE, envNames: [], network: false }
        : call.name === "read_file" || call.name === "list_dir"
          ? { kind: "file.read", path, scope: "sandbox" }
          : { kind: "file.write", path, scope: "sandbox" };
    const card = target.kind === "exec" ? execCard({ argv: target.argv, cwd: target.cwd, envNames: [], network: false }) : mcpCard({ server: "sandbox", tool: call.name, args: a });
    return { target, card };
  };

  /** Writes the approved changes to the project: the last action of a session. */
  const apply = (changes: readonly FileChange[]): ToolResult => {
    const report = applyChanges(services.projectDir, changes);
    return { content: `applied: ${report.written.length} file(s) written, ${report.deleted.length} deleted`, isError: false };
  };

  return {
    prepare: fromPromise<{ tools: ToolSpec[]; workspace: unknown }, { sessionId: string; sandbox: SandboxHandle; mcp: McpChildren }>(async ({ input }) => {
      const snapshot = snapshotProject(services.projectDir);
      const mcp = hubOf(input.mcp);
      // Copying and connecting go on together; a server that does not come up offers no tools.
      const [copied, ...ready] = await Promise.allSettled([copyIntoSandbox(asSandbox(input.sandbox).channel, snapshot), ...mcp.servers.map((s) => mcp.ready(s.name, s.timeoutMs))]);
      if (copied!.status === "rejected") throw copied!.reason;
      ready.forEach((r, i) => r.status === "rejected" && services.onMcpUnavailable?.(mcp.servers[i]!.name, (r.reason as Error).message));
      return { tools: [...BUILTIN_TOOLS, ...mcpTools(mcp)], workspace: { snapshot, baseline: copied!.value } };
    }),

    think: fromPromise<ModelTurn, { sessionId: string; messages: readonly ModelMessage[]; tools: readonly ToolSpec[] }>(({ input, signal }) =>
      services.model.complete(
        { messages: input.messages, tools: input.tools },
        { signal, ...(services.onText && { onText: (d: string) => services.onText!(input.sessionId, d) }) },
      ),
    ),

    decide: fromPromise<ActionDecision, { sessionId: string; call: ToolCall; mcp: McpChildren }>(async ({ input }) => {
      const { target, card } = describeCall(input.call, hubOf(input.mcp));
      const verdict = decide(target, services.rules);
      const hash = actionHash({ tool: input.call.name, args: input.call.arguments, card });
      const summary = `${input.call.name} ${JSON.stringify(input.call.arguments).slice(0, 120)}`;
      // A red call is recorded with its answer; the others here, before the verdict is returned: if the
      // record cannot be written, this rejects with the AuditLogError (code EAUDIT) and nothing runs.
      if (verdict.decision !== "red") {
        services.audit.append({
          session: input.sessionId,
          action: { tool: input.call.name, args: input.call.arguments },
          actionHash: hash,
          decision: verdict.decision === "green" ? "green" : "denied-by-rule",
          by: "policy",
          reason: verdict.reason,
        });
      }
      return { decision: verdict.decision, reason: verdict.reason, actionHash: hash, card, summary, action: { kind: "tool", call: input.call, target } };
    }),

    /** The cliff's answer, to the audit log; an AuditLogError (code EAUDIT) ends the session. */
    recordApproval: fromPromise<void, ApprovalRecord>(async ({ input }) => {
      services.audit.append(approvalAuditEntry(input));
    }),

    runTool: fromPromise<ToolResult, { sessionId: string; sandbox: SandboxHandle; vm?: AnyActorRef; action: SessionAction; mcp: McpChildren }>(async ({ input }) => {
      const { action } = input;
      if (action.kind === "apply") return apply(action.changes);
      if (action.target.kind !== "mcp") return runBuiltin({ sandbox: asSandbox(input.sandbox), vm: input.vm }, action.call);
      const { server, tool, args } = action.target;
      if (!input.mcp[server]) throw new Error(`no MCP server ${server} in this session`);
      return resultText(await hubOf(input.mcp).call(server, tool, args));
    }),

    collectChanges: fromPromise<ActionDecision | null, { sessionId: string; sandbox: SandboxHandle; workspace: unknown }>(async ({ input, signal }) => {
      if (!isCopied(input.workspace)) throw new Error("the workspace was never copied into the sandbox");
      const { snapshot, baseline } = input.workspace;
      const cap = services.changeCap();
      const { changes, skipped } = await collectChanges(asSandbox(input.sandbox).channel, snapshot, baseline, { maxBytes: cap.maxBytes, capSetting: cap.setting, signal });
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
      // Always asked, whatever the verdict: the project's files change only through the cliff.
      return { decision: "red", reason: verdict.reason, actionHash: hash, card, summary, action: { kind: "apply", changes } };
    }),
  };
}
