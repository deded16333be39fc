// Whether an agent's action runs at once (green), waits for a human (red), or is refused
// (denied). The built-in rules follow from one fact: the sandbox is thrown away. What stays in
// it is green; what reaches outside it (host files, the network, people, MCP tools that change
// things) is red, and so is anything not understood. Config rules (`policy.rules`) adjust that,
// with three precedences that do not depend on rule order (docs/approvals.md):
//
//   1. deny beats everything: a matching `deny` from either config refuses the action;
//   2. then `ask`: a matching `ask` makes the action red, even if it would be green;
//   3. then `allow`, from the user's config only: a matching `allow` makes a red action green.
//
// A project's config arrives with a cloned repository, so it may add `ask` and `deny` but never
// `allow`: otherwise a repository could auto-approve writes to its user's files. src/config/policy-rules.ts
// refuses such a rule, and decide ignores any rule whose source says it came from a project.
import { plural } from "./plural.ts";
import { posix } from "node:path";
import picomatch from "picomatch";

export type Decision = "green" | "red" | "denied";

export interface Verdict {
  readonly decision: Decision;
  /** One line, shown to the user as the reason for the decision. */
  readonly reason: string;
  /** Where the rule that decided lives (`<file>: policy.rules[<i>]`); absent when a built-in rule decided. */
  readonly rule?: string;
}

export interface McpAnnotations {
  readonly readOnlyHint?: boolean;
  readonly destructiveHint?: boolean;
  readonly idempotentHint?: boolean;
  readonly openWorldHint?: boolean;
}

export type PolicyAction =
  /** A command in the session's sandbox; network=true only if it asks for egress. */
  | { kind: "exec"; argv: readonly string[]; cwd: string; envNames: readonly string[]; network: boolean }
  | { kind: "file.read"; path: string; scope: "sandbox" | "host" }
  | { kind: "file.write"; path: string; scope: "sandbox" | "host" }
  /**
   * A tool call. `trusted`: the user's config believes the server's annotations. `confined`: the
   * server runs in a sandbox of its own (no network, host paths read-only, scratch thrown away).
   */
  | { kind: "mcp"; server: string; tool: string; args: Readonly<Record<string, unknown>>; annotations?: McpAnnotations; trusted: boolean; confined: boolean }
  /** The workspace diff going back to the host. */
  | { kind: "apply"; paths: readonly string[] }
  /** Sending messages to people. */
  | { kind: "message"; channel: string; to: string };

export const ACTION_KINDS = ["exec", "file.read", "file.write", "mcp", "apply", "message"] as const satisfies readonly PolicyAction["kind"][];

/** Where a rule was read from: decides whether it may `allow`, and names it in reasons. */
export interface RuleSource {
  readonly scope: "user" | "project";
  readonly file: string;
  readonly index: number;
}

/**
 * One config rule. Every field given must match (globs, picomatch):
 * - `server`, `tool`: an MCP call's server and tool name (`*` matches any characters; a leading
 *   `!` negates: `"tool": "!get_*"`);
 * - `command`: an exec's argv joined by single spaces, so `"git *"` matches `git log -- src/a.ts`
 *   and `"npm"` only the bare `npm`;
 * - `path`: a file read/write's path, or each path of an `apply`, normalised (`a/../b` is `b`);
 *   `*` stays within a directory, `**` crosses them, and a pattern without `/` matches the file
 *   name in any directory, as in .gitignore. `allow` needs every path of an apply to match;
 *   `ask` and `deny` need one;
 * - `kind`: the action's kind.
 * A rule with no field but `effect` matches every action. `source` is set by src/config/policy-rules.ts; a
 * rule without one is treated as the user's (it was written in code, not read from a project).
 */
export interface PolicyRule {
  readonly effect: "allow" | "ask" | "deny";
  readonly server?: string;
  readonly tool?: string;
  readonly path?: string;
  readonly command?: string;
  readonly kind?: PolicyAction["kind"];
  readonly source?: RuleSource;
}

// ── matching ─────────────────────────────────────────────────────────────────────────────

const NAME_GLOB = { dot: true, bash: true } as const; // `*` crosses `/` in names and command lines
const PATH_GLOB = { dot: true } as const;
const compiled = new Map<string, (s: string) => boolean>();
function glob(pattern: string, options: typeof NAME_GLOB | typeof PATH_GLOB): (s: string) => boolean {
  const key = `${options === PATH_GLOB ? "p" : "n"}\0${pattern}`;
  let test = compiled.get(key);
  if (!test) compiled.set(key, (test = picomatch(pattern, options)));
  return test;
}

/** The command line a `command` glob sees. */
export function commandLine(argv: readonly string[]): string {
  return argv.join(" ");
}

const escapes = (p: string) => p === ".." || p.startsWith("../");

function pathMatches(pattern: string, path: string, effect: PolicyRule["effect"]): boolean {
  const normal = posix.normalize(path).replace(/^\.\//, "");
  // A relative path that climbs out of where it is relative to cannot be placed: it matches
  // every ask and deny, and no allow.
  if (escapes(normal)) return effect !== "allow";
  // As in .gitignore, a pattern without a slash names a file in any directory. (picomatch's own
  // `basename` option also applies to patterns with slashes, and then never matches them.)
  const anywhere = pattern.includes("/") ? pattern : pattern.replace(/^(!?)/, "$1**/");
  return glob(anywhere, PATH_GLOB)(normal);
}

function pathsOf(action: PolicyAction): readonly string[] {
  switch (action.kind) {
    case "file.read":
    case "file.write":
      return [action.path];
    case "apply":
      return action.paths;
    default:
      return [];
  }
}

export function ruleMatches(rule: PolicyRule, action: PolicyAction): boolean {
  if (rule.kind !== undefined && rule.kind !== action.kind) return false;
  if (rule.server !== undefined || rule.tool !== undefined) {
    if (action.kind !== "mcp") return false;
    if (rule.server !== undefined && !glob(rule.server, NAME_GLOB)(action.server)) return false;
    if (rule.tool !== undefined && !glob(rule.tool, NAME_GLOB)(action.tool)) return false;
  }
  if (rule.command !== undefined) {
    if (action.kind !== "exec" || !glob(rule.command, NAME_GLOB)(commandLine(action.argv))) return false;
  }
  if (rule.path !== undefined) {
    const paths = pathsOf(action);
    if (paths.length === 0) return false;
    const hit = (p: string) => pathMatches(rule.path!, p, rule.effect);
    // An allow covers an apply only if it covers every file in it; ask and deny need just one.
    if (!(rule.effect === "allow" ? paths.every(hit) : paths.some(hit))) return false;
  }
  return true;
}

// ── built-in rules ───────────────────────────────────────────────────────────────────────

const red = (reason: string): Verdict => ({ decision: "red", reason });
const green = (reason: string): Verdict => ({ decision: "green", reason });

function mcpBuiltIn(action: Extract<PolicyAction, { kind: "mcp" }>): Verdict {
  const name = `${action.server}/${action.tool}`;
  // A confined server (actors/mcp/mcp-sandboxed.transport.ts: a namespace or gVisor sandbox with no
  // network, every host path bound read-only, a tmpfs or in-memory root destroyed with it) cannot
  // change anything outside its own throwaway sandbox, whatever its tool does or says it does: the
  // same fact that makes the session's own exec green. What it can still do — read the host paths
  // it was shown and hand them to the model — is what the user agreed to when the config was
  // trusted (the trust prompt lists those paths).
  if (action.confined) return green(`${name} runs in its own sandbox without network; the host paths it sees are read-only`);
  const a = action.annotations ?? {};
  // Hints that make a call red are believed from any server: a server has no reason to lie
  // against itself. Hints that would make it green are believed only from a trusted server.
  if (a.destructiveHint === true) return red(`${name} says it may destroy data`);
  if (a.openWorldHint === true) return red(`${name} says it reaches the outside world`);
  if (a.readOnlyHint !== true) return red(`${name} may change things outside the sandbox (it does not say it is read-only)`);
  if (!action.trusted) return red(`${name} says it is read-only, but server ${action.server} is not trusted to say so`);
  // The MCP spec's default for openWorldHint is true: only an explicit false keeps it closed.
  if (a.openWorldHint !== false) return red(`${name} may reach the outside world (it does not say openWorldHint: false)`);
  return green(`${name} is read-only and stays in its own world (server ${action.server} is trusted)`);
}

/** What the built-in rules alone decide: never `denied`, only green or red. */
export function builtInVerdict(action: PolicyAction): Verdict {
  switch (action.kind) {
    case "exec":
      return action.network
        ? red(`${quoteCommand(action.argv)} asks for network access from the sandbox`)
        : green("runs in the sandbox without network; the sandbox is thrown away");
    case "file.read":
      return action.scope === "sandbox" ? green("reads a file inside the sandbox") : red(`reads ${action.path} on the host, outside the sandbox`);
    case "file.write":
      return action.scope === "sandbox" ? green("writes a file inside the sandbox, which is thrown away") : red(`writes ${action.path} on the host`);
    case "mcp":
      return mcpBuiltIn(action);
    case "apply":
      return red(`writes ${plural(action.paths.length, "file")} back to the host`);
    case "message":
      return red(`sends a message to ${action.to} on ${action.channel}`);
    default: {
      const kind = (action as { kind?: unknown }).kind;
      return red(`unknown kind of action ${JSON.stringify(kind)}: needs approval`);
    }
  }
}

/** A one-line, shortened command for reasons (cards show the whole argv). */
function quoteCommand(argv: readonly string[]): string {
  const line = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
  return line.length > 60 ? `${line.slice(0, 57)}...` : line || "a command";
}

// ── decision ─────────────────────────────────────────────────────────────────────────────

/** `deny server github, tool delete_*` — what a rule says, for reasons. */
export function describeRule(rule: PolicyRule): string {
  const parts = [
    rule.kind !== undefined && `kind ${rule.kind}`,
    rule.server !== undefined && `server ${rule.server}`,
    rule.tool !== undefined && `tool ${rule.tool}`,
    rule.command !== undefined && `command ${JSON.stringify(rule.command)}`,
    rule.path !== undefined && `path ${rule.path}`,
  ].filter((p): p is string => typeof p === "string");
  return `${rule.effect} ${parts.length ? parts.join(", ") : "everything"}`;
}

function whose(rule: PolicyRule): string {
  if (!rule.source) return "a policy rule";
  return `${rule.source.scope === "user" ? "your" : "the project's"} rule policy.rules[${rule.source.index}]`;
}

const located = (rule: PolicyRule) => (rule.source ? { rule: `${rule.source.file}: policy.rules[${rule.source.index}]` } : {});

export function decide(action: PolicyAction, rules: readonly PolicyRule[]): Verdict {
  const base = builtInVerdict(action);
  const hits = rules.filter((r) => ruleMatches(r, action));
  const deny = hits.find((r) => r.effect === "deny");
  if (deny) return { decision: "denied", reason: `denied by ${whose(deny)} (${describeRule(deny)})`, ...located(deny) };
  const ask = hits.find((r) => r.effect === "ask");
  if (ask) {
    // Already red: the built-in reason says better what is at stake; the rule is still named.
    const reason = base.decision === "red" ? base.reason : `approval asked for by ${whose(ask)} (${describeRule(ask)})`;
    return { decision: "red", reason, ...located(ask) };
  }
  if (base.decision === "green") return base;
  const allow = hits.find((r) => r.effect === "allow" && r.source?.scope !== "project");
  if (allow) return { decision: "green", reason: `allowed by ${whose(allow)} (${describeRule(allow)})`, ...located(allow) };
  return base;
}
