// The approval policy: built-in rules (the sandbox is thrown away; whatever reaches outside is
// red), config rules and their precedence (deny > ask > allow; a project may never allow), and
// loading rules from config files with errors that name the file and the key.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { builtInVerdict, decide, ruleMatches, type PolicyAction, type PolicyRule } from "../../core/policy.ts";
import { loadPolicyRules } from "../../src/config/policy-rules.ts";

const exec = (argv: string[], network = false): PolicyAction => ({ kind: "exec", argv, cwd: "/workspace", envNames: [], network });
const mcp = (server: string, tool: string, annotations?: Extract<PolicyAction, { kind: "mcp" }>["annotations"], trusted = false, confined = false): PolicyAction => ({
  kind: "mcp",
  server,
  tool,
  args: {},
  ...(annotations && { annotations }),
  trusted,
  confined,
});
const readOnly = { readOnlyHint: true, openWorldHint: false } as const;
const user = (rule: Omit<PolicyRule, "source">, index = 0): PolicyRule => ({ ...rule, source: { scope: "user", file: "/home/u/.config/ironclaw/config.json", index } });
const project = (rule: Omit<PolicyRule, "source">, index = 0): PolicyRule => ({ ...rule, source: { scope: "project", file: "/p/.ironclaw/config.json", index } });

describe("built-in rules", () => {
  it("makes what stays in the sandbox green", () => {
    expect(decide(exec(["make", "test"]), []).decision).toBe("green");
    expect(decide({ kind: "file.read", path: "/workspace/a", scope: "sandbox" }, []).decision).toBe("green");
    expect(decide({ kind: "file.write", path: "/workspace/a", scope: "sandbox" }, []).decision).toBe("green");
  });

  it("makes whatever reaches outside red, with a one-line reason", () => {
    const cases: [PolicyAction, RegExp][] = [
      [exec(["curl", "https://example.com"], true), /^curl https:\/\/example.com asks for network access from the sandbox$/],
      [{ kind: "file.write", path: "/home/u/.bashrc", scope: "host" }, /^writes \/home\/u\/.bashrc on the host$/],
      [{ kind: "file.read", path: "/home/u/.ssh/id_ed25519", scope: "host" }, /^reads .* on the host, outside the sandbox$/],
      [{ kind: "apply", paths: ["a", "b"] }, /^writes 2 files back to the host$/],
      [{ kind: "apply", paths: ["a"] }, /^writes 1 file back to the host$/],
      [{ kind: "message", channel: "slack", to: "#ops" }, /^sends a message to #ops on slack$/],
    ];
    for (const [action, reason] of cases) {
      const verdict = decide(action, []);
      expect(verdict.decision).toBe("red");
      expect(verdict.reason).toMatch(reason);
      expect(verdict.reason).not.toContain("\n");
      expect(verdict.rule).toBeUndefined();
    }
  });

  it("treats an action it does not know as red", () => {
    const verdict = decide({ kind: "teleport" } as unknown as PolicyAction, []);
    expect(verdict).toEqual({ decision: "red", reason: 'unknown kind of action "teleport": needs approval' });
  });

  it("believes MCP hints that make a call red from any server", () => {
    expect(decide(mcp("fs", "rm", { destructiveHint: true }), []).reason).toBe("fs/rm says it may destroy data");
    expect(decide(mcp("fs", "rm", { readOnlyHint: true, destructiveHint: true }, true), []).decision).toBe("red");
    expect(decide(mcp("web", "fetch", { readOnlyHint: true, openWorldHint: true }, true), []).reason).toBe("web/fetch says it reaches the outside world");
  });

  it("makes an MCP call green only for a trusted server that says read-only and closed-world", () => {
    expect(decide(mcp("fs", "read", readOnly, true), [])).toEqual({ decision: "green", reason: "fs/read is read-only and stays in its own world (server fs is trusted)" });
    expect(decide(mcp("fs", "read", readOnly, false), [])).toEqual({ decision: "red", reason: "fs/read says it is read-only, but server fs is not trusted to say so" });
    // The spec's default for openWorldHint is true.
    expect(decide(mcp("fs", "read", { readOnlyHint: true }, true), []).reason).toMatch(/may reach the outside world/);
    expect(decide(mcp("fs", "write", undefined, true), []).reason).toBe("fs/write may change things outside the sandbox (it does not say it is read-only)");
    expect(decide(mcp("fs", "write", { readOnlyHint: false }, true), []).decision).toBe("red");
  });

  it("makes a call to a confined server green whatever its annotations say: it cannot change anything outside its own sandbox", () => {
    const confined = "runs in its own sandbox without network; the host paths it sees are read-only";
    expect(decide(mcp("fs", "read", readOnly, false, true), [])).toEqual({ decision: "green", reason: `fs/read ${confined}` });
    // A write fails on its read-only view; a destructive or open-world tool has nothing to destroy and no network.
    expect(decide(mcp("fs", "write", undefined, false, true), [])).toEqual({ decision: "green", reason: `fs/write ${confined}` });
    expect(decide(mcp("fs", "rm", { destructiveHint: true, openWorldHint: true }, false, true), []).decision).toBe("green");
    // Unconfined, the same calls stay red.
    expect(decide(mcp("fs", "write", undefined, false, false), []).decision).toBe("red");
  });

  it("still lets a user's or a project's rule ask about or deny a confined server's calls", () => {
    expect(decide(mcp("fs", "read", readOnly, false, true), [project({ effect: "ask", server: "fs" })])).toMatchObject({
      decision: "red",
      reason: "approval asked for by the project's rule policy.rules[0] (ask server fs)",
    });
    expect(decide(mcp("fs", "read", readOnly, false, true), [user({ effect: "deny", tool: "read" })]).decision).toBe("denied");
  });
});

describe("config rules", () => {
  it("match MCP calls by server and tool globs, with negation", () => {
    const rule: PolicyRule = { effect: "ask", server: "git*", tool: "!get_*" };
    expect(ruleMatches(rule, mcp("github", "create_issue"))).toBe(true);
    expect(ruleMatches(rule, mcp("github", "get_issue"))).toBe(false);
    expect(ruleMatches(rule, mcp("slack", "post"))).toBe(false);
    expect(ruleMatches(rule, exec(["github"]))).toBe(false);
  });

  it("match commands on argv joined by spaces, * crossing slashes", () => {
    expect(ruleMatches({ effect: "deny", command: "git *" }, exec(["git", "log", "--", "src/a.ts"]))).toBe(true);
    expect(ruleMatches({ effect: "deny", command: "git *" }, exec(["git"]))).toBe(false);
    expect(ruleMatches({ effect: "deny", command: "git" }, exec(["git"]))).toBe(true);
    expect(ruleMatches({ effect: "deny", command: "rm -rf *" }, exec(["rm", "-rf", "/"]))).toBe(true);
    expect(ruleMatches({ effect: "deny", command: "*" }, mcp("a", "b"))).toBe(false);
  });

  it("match paths as globs, normalised, basename-only patterns in any directory", () => {
    const write = (path: string): PolicyAction => ({ kind: "file.write", path, scope: "host" });
    expect(ruleMatches({ effect: "deny", path: "**/.env" }, write("app/.env"))).toBe(true);
    expect(ruleMatches({ effect: "deny", path: ".env" }, write("deep/down/.env"))).toBe(true);
    expect(ruleMatches({ effect: "deny", path: "secrets/**" }, write("secrets/.key"))).toBe(true);
    expect(ruleMatches({ effect: "deny", path: "*.pem" }, write("certs/site.pem"))).toBe(true);
    expect(ruleMatches({ effect: "deny", path: "!*.md" }, write("docs/a.md"))).toBe(false);
    expect(ruleMatches({ effect: "deny", path: "!*.md" }, write("src/a.ts"))).toBe(true);
    expect(ruleMatches({ effect: "deny", path: "/etc/**" }, write("/etc/ssh/sshd_config"))).toBe(true);
    expect(ruleMatches({ effect: "deny", path: "src/*.ts" }, write("src/deep/a.ts"))).toBe(false);
    expect(ruleMatches({ effect: "allow", path: "src/**" }, write("src/../etc/passwd"))).toBe(false);
    expect(ruleMatches({ effect: "deny", path: "etc/**" }, write("src/../etc/passwd"))).toBe(true);
    expect(ruleMatches({ effect: "allow", path: "docs/*.md" }, write("./docs/a.md"))).toBe(true);
    // Climbing out cannot be placed: every deny and ask matches it, no allow does.
    expect(ruleMatches({ effect: "deny", path: "src/**" }, write("../outside"))).toBe(true);
    expect(ruleMatches({ effect: "allow", path: "**" }, write("../outside"))).toBe(false);
  });

  it("need every path of an apply to allow it, one to ask or deny", () => {
    const apply: PolicyAction = { kind: "apply", paths: ["docs/a.md", "src/b.ts"] };
    expect(ruleMatches({ effect: "allow", path: "docs/**" }, apply)).toBe(false);
    expect(ruleMatches({ effect: "allow", path: "{docs,src}/**" }, apply)).toBe(true);
    expect(ruleMatches({ effect: "deny", path: "src/**" }, apply)).toBe(true);
    expect(ruleMatches({ effect: "allow", path: "**" }, { kind: "apply", paths: [] })).toBe(false);
  });

  it("match on kind, and a rule with no fields matches everything", () => {
    expect(ruleMatches({ effect: "ask", kind: "message" }, { kind: "message", channel: "mail", to: "x" })).toBe(true);
    expect(ruleMatches({ effect: "ask", kind: "message" }, exec(["ls"]))).toBe(false);
    expect(ruleMatches({ effect: "ask" }, exec(["ls"]))).toBe(true);
  });
});

describe("precedence", () => {
  const call = mcp("github", "delete_repo");

  it("lets deny win over ask and allow, whatever the order and whoever wrote it", () => {
    const rules = [user({ effect: "allow", server: "github" }, 0), user({ effect: "ask", server: "github" }, 1), project({ effect: "deny", tool: "delete_*" }, 0)];
    for (const order of [rules, [...rules].reverse()]) {
      expect(decide(call, order)).toEqual({
        decision: "denied",
        reason: "denied by the project's rule policy.rules[0] (deny tool delete_*)",
        rule: "/p/.ironclaw/config.json: policy.rules[0]",
      });
    }
    // Even an action that is green by default.
    expect(decide(exec(["rm", "-rf", "/"]), [user({ effect: "deny", command: "rm -rf *" })]).decision).toBe("denied");
  });

  it("lets ask win over allow, and makes a green action red", () => {
    expect(decide(call, [user({ effect: "allow", server: "github" }), user({ effect: "ask", tool: "delete_*" }, 1)])).toMatchObject({
      decision: "red",
      rule: expect.stringContaining("policy.rules[1]"),
    });
    const asked = decide(exec(["npm", "publish"]), [project({ effect: "ask", command: "npm publish*" }, 3)]);
    expect(asked).toEqual({
      decision: "red",
      reason: 'approval asked for by the project\'s rule policy.rules[3] (ask command "npm publish*")',
      rule: "/p/.ironclaw/config.json: policy.rules[3]",
    });
    // Already red: the built-in reason says more.
    expect(decide({ kind: "apply", paths: ["a"] }, [user({ effect: "ask", kind: "apply" })]).reason).toBe("writes 1 file back to the host");
  });

  it("lets the user's allow make red green", () => {
    expect(decide(call, [user({ effect: "allow", server: "github", tool: "delete_*" }, 2)])).toEqual({
      decision: "green",
      reason: "allowed by your rule policy.rules[2] (allow server github, tool delete_*)",
      rule: "/home/u/.config/ironclaw/config.json: policy.rules[2]",
    });
    expect(decide(exec(["npm", "install"], true), [user({ effect: "allow", command: "npm install" })]).decision).toBe("green");
    expect(decide({ kind: "apply", paths: ["docs/a.md"] }, [user({ effect: "allow", kind: "apply", path: "docs/**" })]).decision).toBe("green");
  });

  it("never lets a project's allow make red green", () => {
    const apply: PolicyAction = { kind: "apply", paths: ["src/a.ts"] };
    expect(decide(apply, [project({ effect: "allow", kind: "apply" })])).toEqual({ decision: "red", reason: "writes 1 file back to the host" });
    expect(decide(mcp("evil", "write"), [project({ effect: "allow" })]).decision).toBe("red");
  });

  it("treats a rule without a source as the user's, and an allow of green as no change", () => {
    expect(decide(mcp("a", "b"), [{ effect: "allow", server: "a" }])).toMatchObject({ decision: "green", reason: "allowed by a policy rule (allow server a)" });
    expect(decide(exec(["ls"]), [user({ effect: "allow" })])).toEqual(builtInVerdict(exec(["ls"])));
  });
});

describe("the examples in docs/approvals.md", () => {
  const rules = [
    { effect: "allow", server: "github", tool: "get_*" },
    { effect: "allow", kind: "exec", command: "npm install*" },
    { effect: "allow", kind: "apply", path: "docs/**" },
    { effect: "ask", server: "github", tool: "!get_*" },
    { effect: "deny", path: ".env" },
    { effect: "deny", command: "git push*" },
  ].map((r, i) => user(r as PolicyRule, i));

  it("decide as the table says", () => {
    const table: [PolicyAction, string][] = [
      [exec(["make", "test"]), "green"],
      [exec(["npm", "install"], true), "green"],
      [exec(["git", "push", "origin", "main"]), "denied"],
      [mcp("github", "get_issue"), "green"],
      [mcp("github", "create_issue"), "red"],
      [{ kind: "apply", paths: ["docs/a.md", "src/b.ts"] }, "red"],
      [{ kind: "apply", paths: ["docs/a.md"] }, "green"],
      [{ kind: "apply", paths: ["app/.env"] }, "denied"],
    ];
    for (const [action, decision] of table) expect([action, decide(action, rules).decision]).toEqual([action, decision]);
  });
});

describe("loadPolicyRules", () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  function place(files: { user?: unknown; project?: unknown }) {
    const root = mkdtempSync(join(tmpdir(), "ironclaw-policy-"));
    dirs.push(root);
    const env = { XDG_CONFIG_HOME: join(root, "config") };
    const cwd = join(root, "project");
    mkdirSync(join(root, "config", "ironclaw"), { recursive: true });
    mkdirSync(join(cwd, ".ironclaw"), { recursive: true });
    const userFile = join(root, "config", "ironclaw", "config.json");
    const projectFile = join(cwd, ".ironclaw", "config.json");
    if (files.user !== undefined) writeFileSync(userFile, JSON.stringify(files.user));
    if (files.project !== undefined) writeFileSync(projectFile, JSON.stringify(files.project));
    return { cwd, env, userFile, projectFile };
  }

  it("reads the user's rules, then the project's, each marked with its source", () => {
    const at = place({
      user: { policy: { rules: [{ effect: "allow", server: "fs", tool: "read_*" }] } },
      project: {
        policy: {
          rules: [
            { effect: "ask", kind: "exec", command: "npm publish*" },
            { effect: "deny", path: "**/.env" },
          ],
        },
      },
    });
    expect(loadPolicyRules(at)).toEqual([
      { effect: "allow", server: "fs", tool: "read_*", source: { scope: "user", file: at.userFile, index: 0 } },
      { effect: "ask", kind: "exec", command: "npm publish*", source: { scope: "project", file: at.projectFile, index: 0 } },
      { effect: "deny", path: "**/.env", source: { scope: "project", file: at.projectFile, index: 1 } },
    ]);
  });

  it("returns no rules without config files or a policy key", () => {
    expect(loadPolicyRules(place({}))).toEqual([]);
    expect(loadPolicyRules(place({ user: { pool: { size: 2 } } }))).toEqual([]);
  });

  it("refuses an allow in a project's config, saying where it belongs", () => {
    const at = place({
      project: {
        policy: {
          rules: [
            { effect: "deny", tool: "x" },
            { effect: "allow", kind: "apply" },
          ],
        },
      },
    });
    expect(() => loadPolicyRules(at)).toThrow(
      `${at.projectFile}: policy.rules[1].effect: a project's config may only ask or deny; "allow" belongs in your own config (${at.userFile})`,
    );
  });

  it("refuses bad rules, naming the file and the key", () => {
    const cases: [unknown, string][] = [
      [{ effect: "maybe" }, 'policy.rules[0].effect: Expected "allow" | "ask" | "deny", got "maybe"'],
      [{ tool: "x" }, 'policy.rules[0].effect is missing (one of "allow", "ask", "deny")'],
      [{ effect: "deny", tol: "x" }, "policy.rules[0].tol is not a rule field (fields: effect, kind, server, tool, path, command)"],
      [{ effect: "deny", tool: 3 }, "policy.rules[0].tool: Expected string, got 3"],
      [{ effect: "deny", path: "" }, 'policy.rules[0].path: must be a non-empty glob, got ""'],
      [{ effect: "deny", kind: "shell" }, "policy.rules[0].kind: Expected"],
      [{ effect: "deny", kind: "exec", tool: "x" }, "policy.rules[0].tool: only matches actions of kind mcp, but kind is exec"],
      [{ effect: "deny", server: "x", command: "y" }, "policy.rules[0]: server and command never apply to the same action; write two rules"],
      ["deny", 'policy.rules[0]: must be an object like {"effect": "ask", "server": "github"}'],
    ];
    for (const [rule, message] of cases) {
      const at = place({ user: { policy: { rules: [rule] } } });
      expect(() => loadPolicyRules(at)).toThrow(`${at.userFile}: ${message}`);
    }
  });

  it("refuses a policy section that is not one, through the settings schema", () => {
    expect(() => loadPolicyRules(place({ user: { policy: { rules: {} } } }))).toThrow(/config.json: policy.rules: Expected array/);
    expect(() => loadPolicyRules(place({ user: { policy: { rule: [] } } }))).toThrow(/config.json: policy.rule is not a setting \(settings: rules\)$/);
    expect(() => loadPolicyRules(place({ user: { polic: {} } }))).toThrow(/polic is not a setting \(sections: pool, mcp, mcpServers, policy, sandbox, workspace\)$/);
  });
});
