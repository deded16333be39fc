// `policy.rules` read from the user's and the project's config: each rule checked, marked with
// where it came from, and refused when a project tries to `allow` (core/policy.ts decides).
import { existsSync } from "node:fs";
import { Result, Schema } from "effect";
import { ACTION_KINDS, type PolicyAction, type PolicyRule, type RuleSource } from "../../core/policy.ts";
import { schemaProblem } from "../../core/schema-problem.ts";
import { configFiles, readConfig } from "./settings.ts";
import { SettingsError } from "../../core/errors.ts";

const Glob = Schema.String.check(Schema.makeFilter((s: string) => s.trim().length > 0 || "must be a non-empty glob"));
const RuleSchema = Schema.Struct({
  effect: Schema.Literals(["allow", "ask", "deny"]),
  kind: Schema.optional(Schema.Literals(ACTION_KINDS)),
  server: Schema.optional(Glob),
  tool: Schema.optional(Glob),
  path: Schema.optional(Glob),
  command: Schema.optional(Glob),
});
const decodeRule = Schema.decodeUnknownResult(RuleSchema as never, { onExcessProperty: "error" } as never) as (u: unknown) => Result.Result<typeof RuleSchema.Type, Error>;

/** The failure's first issue: `{ key: "effect", problem }` for a rule's bad `effect` (core/schema-problem.ts). */
function failureAt(failure: Error): { key: string; problem: string } {
  const { path, problem } = schemaProblem(failure);
  return { key: path, problem };
}

/** Which action kinds each matcher can apply to: a rule combining others would never match. */
const FIELD_KINDS: Record<"server" | "tool" | "command" | "path", readonly PolicyAction["kind"][]> = {
  server: ["mcp"],
  tool: ["mcp"],
  command: ["exec"],
  path: ["file.read", "file.write", "apply"],
};

function parseRule(raw: unknown, source: RuleSource, userFile: string): PolicyRule {
  const at = `policy.rules[${source.index}]`;
  const fail = (message: string): never => {
    throw new SettingsError(`${source.file}: ${message}`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(`${at}: must be an object like {"effect": "ask", "server": "github"}`);
  const result = decodeRule(raw);
  if (Result.isFailure(result)) {
    const { key, problem } = failureAt(result.failure);
    if (problem === "Expected no excess property") fail(`${at}.${key} is not a rule field (fields: ${Object.keys(RuleSchema.fields).join(", ")})`);
    if (problem === "Missing key") fail(`${at}.${key} is missing (one of "allow", "ask", "deny")`);
    const got = (raw as Record<string, unknown>)[key];
    fail(`${at}.${key}: ${problem}${got === undefined ? "" : `, got ${JSON.stringify(got)}`}`);
  }
  const rule = (result as Result.Success<typeof RuleSchema.Type, Error>).success;
  const fields = (["server", "tool", "command", "path"] as const).filter((f) => rule[f] !== undefined);
  for (const field of fields) {
    const kinds = FIELD_KINDS[field];
    if (rule.kind !== undefined && !kinds.includes(rule.kind)) fail(`${at}.${field}: only matches actions of kind ${kinds.join(", ")}, but kind is ${rule.kind}`);
    for (const other of fields) {
      if (!FIELD_KINDS[other].some((k) => kinds.includes(k))) fail(`${at}: ${field} and ${other} never apply to the same action; write two rules`);
    }
  }
  if (rule.effect === "allow" && source.scope === "project") {
    fail(`${at}.effect: a project's config may only ask or deny; "allow" belongs in your own config (${userFile})`);
  }
  return { ...rule, source };
}

/** The rules of `policy.rules` in the user's config, then the project's, each marked with its source. */
export function loadPolicyRules(options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): PolicyRule[] {
  const files = configFiles(options.cwd, options.env ?? process.env);
  const rules: PolicyRule[] = [];
  for (const [scope, file] of [
    ["user", files.user],
    ["project", files.project],
  ] as const) {
    if (!existsSync(file)) continue;
    (readConfig(file).policy?.rules ?? []).forEach((raw, index) => rules.push(parseRule(raw, { scope, file, index }, files.user)));
  }
  return rules;
}
