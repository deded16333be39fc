// Settings from defaults, the user's and the project's config files, and the environment:
// precedence, and a refusal (never a silent clamp) that names what to fix.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadSettings } from "../../src/config/settings.ts";

const dirs: string[] = [];
function place(files: { user?: unknown; project?: unknown }) {
  const root = mkdtempSync(join(tmpdir(), "ironclaw-settings-"));
  dirs.push(root);
  const env = { XDG_CONFIG_HOME: join(root, "config") };
  const cwd = join(root, "project");
  mkdirSync(join(root, "config", "ironclaw"), { recursive: true });
  mkdirSync(join(cwd, ".ironclaw"), { recursive: true });
  const write = (file: string, content: unknown) => writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  if (files.user !== undefined) write(join(root, "config", "ironclaw", "config.json"), files.user);
  if (files.project !== undefined) write(join(cwd, ".ironclaw", "config.json"), files.project);
  return { cwd, env, root };
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("settings", () => {
  it("defaults to 5 slots refreshed hourly", () => {
    const { cwd, env } = place({});
    expect(loadSettings({ cwd, env }).pool).toMatchObject({ size: 5, snapshotRefreshSecs: 3600 });
  });

  it("lets the project file win over the user's, and the environment over both", () => {
    const { cwd, env } = place({ user: { pool: { size: 7, snapshotRefreshSecs: 120 } }, project: { pool: { size: 3 } } });
    expect(loadSettings({ cwd, env }).pool).toMatchObject({ size: 3, snapshotRefreshSecs: 120 });
    expect(loadSettings({ cwd, env: { ...env, IRONCLAW_POOL_SIZE: "2", IRONCLAW_SNAPSHOT_PATH: "/srv/snap" } }).pool).toEqual({
      size: 2,
      snapshotRefreshSecs: 120,
      snapshotPath: "/srv/snap",
    });
  });

  it("refuses out-of-range environment values, naming the variable", () => {
    const { cwd, env } = place({});
    expect(() => loadSettings({ cwd, env: { ...env, IRONCLAW_POOL_SIZE: "21" } })).toThrow(/^IRONCLAW_POOL_SIZE=21: Expected a value between 1 and 20$/);
    expect(() => loadSettings({ cwd, env: { ...env, IRONCLAW_POOL_SIZE: "0" } })).toThrow(/^IRONCLAW_POOL_SIZE=0: /);
    expect(() => loadSettings({ cwd, env: { ...env, IRONCLAW_SNAPSHOT_REFRESH_SECS: "59" } })).toThrow(
      /^IRONCLAW_SNAPSHOT_REFRESH_SECS=59: Expected a value greater than or equal to 60$/,
    );
    expect(() => loadSettings({ cwd, env: { ...env, IRONCLAW_POOL_SIZE: "many" } })).toThrow(/^IRONCLAW_POOL_SIZE=many: Expected a whole number/);
    expect(() => loadSettings({ cwd, env: { ...env, IRONCLAW_SNAPSHOT_PATH: "snapshots" } })).toThrow(/^IRONCLAW_SNAPSHOT_PATH=snapshots: must be an absolute path$/);
  });

  it("takes the snapshot path from the user's file but never from a project's", () => {
    const user = place({ user: { pool: { snapshotPath: "/srv/snap" } } });
    expect(loadSettings(user).pool.snapshotPath).toBe("/srv/snap");
    const project = place({ project: { pool: { snapshotPath: "/tmp/theirs" } } });
    expect(() => loadSettings(project)).toThrow(
      /\.ironclaw\/config\.json: pool\.snapshotPath cannot be set by a project; set it in .*ironclaw\/config\.json or IRONCLAW_SNAPSHOT_PATH$/,
    );
  });

  it("refuses bad config files, naming the file and the key", () => {
    const bad = place({ project: { pool: { size: 50 } } });
    expect(() => loadSettings(bad)).toThrow(new RegExp(`^${bad.cwd}/.ironclaw/config.json: pool.size: Expected a value between 1 and 20, got 50$`));
    const typo = place({ user: { pool: { sise: 5 } } });
    expect(() => loadSettings(typo)).toThrow(/config.json: pool.sise is not a setting \(settings: size, snapshotRefreshSecs, snapshotPath\)$/);
    const section = place({ user: { pools: {} } });
    expect(() => loadSettings(section)).toThrow(/config.json: pools is not a setting \(sections: pool, mcp, mcpServers, policy, sandbox, workspace\)$/);
    const broken = place({ project: "{ pool: " });
    expect(() => loadSettings(broken)).toThrow(/config.json: not valid JSON/);
  });

  it("gives every sandbox all cores but one (at least one) unless told otherwise, fractions allowed", () => {
    const cores = availableParallelism();
    const { cwd, env } = place({});
    expect(loadSettings({ cwd, env }).sandbox.cpus).toBe(Math.max(1, cores - 1));
    expect(loadSettings({ cwd, env: { ...env, IRONCLAW_CPUS: "0.5" } }).sandbox.cpus).toBe(0.5);
    const user = place({ user: { sandbox: { cpus: 0.25 } } });
    expect(loadSettings(user).sandbox.cpus).toBe(0.25);
  });

  it("refuses a CPU limit the machine cannot give, or that a project raises", () => {
    const cores = availableParallelism();
    const { cwd, env } = place({});
    const range = `must be a number of CPUs from 0.01 to ${cores} \\(this machine has ${cores}\\)`;
    for (const value of ["0", "-1", String(cores + 1), "0.001"]) {
      expect(() => loadSettings({ cwd, env: { ...env, IRONCLAW_CPUS: value } })).toThrow(new RegExp(`^IRONCLAW_CPUS=${value}: ${range}$`));
    }
    expect(() => loadSettings({ cwd, env: { ...env, IRONCLAW_CPUS: "lots" } })).toThrow(/^IRONCLAW_CPUS=lots: Expected a number of CPUs/);
    const bad = place({ user: { sandbox: { cpus: 0 } } });
    expect(() => loadSettings(bad)).toThrow(new RegExp(`config.json: sandbox.cpus: ${range}, got 0$`));
    const raised = place({ user: { sandbox: { cpus: 0.5 } }, project: { sandbox: { cpus: 1 } } });
    expect(() => loadSettings(raised)).toThrow(
      /\.ironclaw\/config\.json: sandbox\.cpus cannot be raised by a project \(above 0\.5\); set it in .*ironclaw\/config\.json or IRONCLAW_CPUS$/,
    );
    const lowered = place({ user: { sandbox: { cpus: 0.5 } }, project: { sandbox: { cpus: 0.25 } } });
    expect(loadSettings(lowered).sandbox.cpus).toBe(0.25);
  });

  it("caps what comes back for approval at 64 MiB unless told otherwise; a project may lower it, never raise it", () => {
    expect(loadSettings(place({})).workspace.maxChangeMiB).toBe(64);
    expect(loadSettings(place({ user: { workspace: { maxChangeMiB: 256 } } })).workspace.maxChangeMiB).toBe(256);
    expect(loadSettings(place({ user: { workspace: { maxChangeMiB: 256 } }, project: { workspace: { maxChangeMiB: 8 } } })).workspace.maxChangeMiB).toBe(8);
    expect(() => loadSettings(place({ project: { workspace: { maxChangeMiB: 1024 } } }))).toThrow(/workspace.maxChangeMiB cannot be raised by a project \(above 64\)/);
    expect(() => loadSettings(place({ user: { workspace: { maxChangeMiB: 0 } } }))).toThrow(/workspace.maxChangeMiB: Expected a value between 1 and 4096/);
  });

  it("reads a config only as a regular file of at most 1 MiB: a link to /dev/zero or a FIFO (a hostile clone's) is one line, not a hang or an exhausted heap", () => {
    for (const make of [
      (f: string) => symlinkSync("/dev/zero", f),
      (f: string) => execFileSync("mkfifo", [f]),
      (f: string) => writeFileSync(f, `{"pool":{}${" ".repeat(1 << 20)}}`),
    ]) {
      const where = place({});
      const file = join(where.cwd, ".ironclaw", "config.json");
      make(file);
      expect(() => loadSettings(where)).toThrow(/config\.json: (not a regular file; a config file must be one|\d+ bytes, more than a config file may hold \(1048576\))$/);
    }
  });

  it("lets a project ask for a smaller pool refreshed less often, never a bigger or busier one", () => {
    expect(() => loadSettings(place({ project: { pool: { size: 20 } } }))).toThrow(/pool.size cannot be raised by a project \(above 5\)/);
    expect(() => loadSettings(place({ project: { pool: { snapshotRefreshSecs: 60 } } }))).toThrow(/pool.snapshotRefreshSecs cannot be shortened by a project \(below 3600\)/);
    expect(loadSettings(place({ project: { pool: { size: 2, snapshotRefreshSecs: 7200 } } })).pool).toMatchObject({ size: 2, snapshotRefreshSecs: 7200 });
  });
});
