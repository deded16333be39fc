// The `gvisor` backend: runsc runs the guest agent on gVisor's user-space kernel, so the
// sandbox's system calls never reach the host kernel directly. The sandbox is an OCI bundle
// made per task: an empty read-only root with an in-memory overlay, the host runtime bound
// read-only, no network. runsc and its gofer live inside our cgroup (runsc is told to ignore
// cgroups) so the same join-before-exec and kill-by-cgroup rules hold as for bubblewrap.
import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { lchown, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { GUEST_ENV } from "../../guest-agent/guest-protocol.ts";
import { bootProcessSandbox, destroyProcessSandbox, type DriverEnv, provisionProcessSandbox } from "./process-sandbox.ts";
import { GUEST_AGENT, GUEST_NODE, limitsInForce, sandboxView, type ViewEntry } from "./sandbox-view.ts";
import { probeDriver } from "./sandbox-probe.ts";
import { idRangeForRoot } from "./sandbox-ids.ts";
import { sharedRuntime } from "./shared-runtime.ts";
import type { ProbeResult, Sandbox, SandboxDriver, SandboxRecord, SandboxSpec } from "./sandbox-driver.ts";
import { SandboxError } from "../../core/errors.ts";

const run = promisify(execFile);

export function findRunsc(): string | null {
  for (const p of ["/usr/bin/runsc", "/usr/local/bin/runsc", "/usr/sbin/runsc"]) if (existsSync(p)) return p;
  return null;
}

interface RunscFeatures {
  readonly version: string;
  readonly platform: "systrap" | "ptrace";
  /** 2023+ builds replaced --overlay with --overlay2=root:memory. */
  readonly overlayFlag: string;
}

let features: Promise<RunscFeatures> | undefined;
function runscFeatures(runsc: string): Promise<RunscFeatures> {
  features ??= (async () => {
    const [{ stdout: version }, { stdout: flags }] = await Promise.all([
      run(runsc, ["--version"]),
      // `runsc flags` prints to stderr.
      run(runsc, ["flags"]).then(
        (r) => ({ stdout: r.stdout + r.stderr }),
        (e: { stderr?: string }) => ({ stdout: e.stderr ?? "" }),
      ),
    ]);
    return {
      version: version.split("\n")[0]!.trim(),
      platform: /systrap/.test(flags) ? "systrap" : "ptrace",
      overlayFlag: /overlay2/.test(flags) ? "--overlay2=root:memory" : "--overlay",
    };
  })();
  return features;
}

interface Mount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

function ociMount(entry: ViewEntry): Mount | null {
  switch (entry.kind) {
    case "bind":
      return { destination: entry.target, type: "bind", source: entry.source, options: ["rbind", "ro"] };
    case "proc":
      return { destination: entry.target, type: "proc", source: "proc" };
    case "dev":
      return { destination: entry.target, type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=755"] };
    case "tmpfs":
      return { destination: entry.target, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev"] };
    case "symlink":
    case "dir":
      return null; // part of the root filesystem, made by makeRootfs
  }
}

function ociSpec(view: readonly ViewEntry[]): object {
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      // The agent and commands share uid 0 inside: runsc (2024) gives a non-root process no
      // ambient capabilities, so the agent could not start commands under other ids.
      user: { uid: 0, gid: 0 },
      args: [GUEST_NODE, GUEST_AGENT],
      env: Object.entries(GUEST_ENV).map(([k, v]) => `${k}=${v}`),
      cwd: "/",
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: false },
    hostname: "ironclaw",
    mounts: view.map(ociMount).filter((m) => m !== null),
    linux: {
      namespaces: ["pid", "ipc", "uts", "mount", "network"].map((type) => ({ type })),
    },
  };
}

/** The root filesystem under the overlay: the view's links and directories, and a mount point for each bind. */
async function makeRootfs(rootfs: string, view: readonly ViewEntry[]): Promise<void> {
  for (const entry of view) {
    const at = join(rootfs, entry.target);
    await mkdir(dirname(at), { recursive: true });
    if (entry.kind === "symlink") await symlink(entry.linkTo, at);
    else if (entry.kind === "bind" && !(existsSync(entry.source) && statSync(entry.source).isDirectory())) await writeFile(at, "");
    else await mkdir(at, { recursive: true });
  }
}

/** Hands a directory tree to the sandbox's ids (no symlink followed: lchown). */
async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await lchown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, uid, gid);
    else await lchown(path, uid, gid);
  }
}

/** runsc's own state directory: inside the sandbox's work dir, so it goes when the work dir does. */
const runscRoot = (record: SandboxRecord) => join(record.workDir, "runsc");

export class GvisorDriver implements SandboxDriver {
  readonly backend = "gvisor" as const;
  readonly hostMounts = true;

  private readonly env: DriverEnv;

  constructor(env: DriverEnv) {
    this.env = env;
  }

  private runsc(): string {
    const runsc = findRunsc();
    if (!runsc) throw new SandboxError("EBACKEND", "the gvisor backend needs runsc: install it with `apt-get install runsc`");
    return runsc;
  }

  async provision(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxRecord> {
    const runsc = this.runsc();
    const record = await provisionProcessSandbox(this.env, spec, signal, idRangeForRoot(this.backend), true);
    try {
      const bundle = join(record.workDir, "bundle");
      const rootfs = join(bundle, "rootfs");
      // Rootless runsc reads the runtime under the sandbox's ids: from where they can.
      const view = sandboxView(record.ids ? sharedRuntime(this.env) : this.env, record);
      // Each step checks the signal: an aborted provision must stop making files that the
      // teardown racing it has already removed (and then remove them itself, below).
      await makeRootfs(rootfs, view);
      signal?.throwIfAborted();
      await mkdir(runscRoot(record), { recursive: true });
      await writeFile(join(bundle, "config.json"), JSON.stringify(ociSpec(view)));
      await runscFeatures(runsc);
      // runsc, its gofer and its Sentry run under these ids: the bundle and its state are theirs.
      if (record.ids) await chownTree(record.workDir, record.ids.uidBase, record.ids.gidBase);
      signal?.throwIfAborted();
      return record;
    } catch (err) {
      await this.destroy(record);
      throw err;
    }
  }

  async boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox> {
    const runsc = this.runsc();
    const f = await runscFeatures(runsc);
    return bootProcessSandbox(
      this.env,
      record,
      {
        argv: [
          runsc,
          ...(record.ids ? ["--rootless"] : []),
          `--root=${runscRoot(record)}`,
          "--network=none",
          `--platform=${f.platform}`,
          "--ignore-cgroups",
          f.overlayFlag,
          "run",
          `--bundle=${join(record.workDir, "bundle")}`,
          record.id,
        ],
        isolation: `gvisor (runsc ${f.version.replace(/^runsc version /, "")}, platform ${f.platform}): user-space kernel; ${record.ids ? `rootless runsc as host uid ${record.ids.uidBase}` : `host uid ${process.getuid?.() ?? "?"}`}; no network; ${limitsInForce(record)}`,
        ...(record.ids && { spawn: { runAs: { uid: record.ids.uidBase, gid: record.ids.gidBase }, umask: 0o022 } }),
      },
      signal,
    );
  }

  /**
   * No `runsc delete`: runsc keeps its state under the work dir (--root), every runsc process is
   * in our cgroup or dies with `runsc run` (its parent-death signal), and nothing is mounted on
   * the host side. Asking a dead sandbox to delete itself only costs seconds of runsc timeouts.
   */
  destroy(record: SandboxRecord): Promise<void> {
    return destroyProcessSandbox(this.env, record);
  }

  async probe(signal?: AbortSignal): Promise<ProbeResult> {
    const runsc = findRunsc();
    if (!runsc) return { backend: this.backend, usable: false, reason: "runsc is not installed (apt-get install runsc)" };
    const f = await runscFeatures(runsc).catch(() => undefined);
    if (!f) return { backend: this.backend, usable: false, reason: `${runsc} does not run (runsc --version failed)` };
    return probeDriver(this, `${f.version} (platform ${f.platform})`, signal);
  }
}
