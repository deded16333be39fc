// What a sandbox sees of the world, once, for every backend: a read-only runtime from the
// host, a generated /etc, the guest agent, and fresh /proc, /dev and /tmp on a writable root,
// plus the host paths its record names (a sandboxed MCP server's own files), read-only.
// Each driver renders this list in its own terms (bubblewrap arguments, OCI mounts).
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { isAbsolute, join, normalize } from "node:path";
import type { SandboxRecord } from "./sandbox-driver.ts";

/** Where the runtime appears inside every sandbox. */
export const GUEST_NODE = "/opt/ironclaw/node";
export const GUEST_AGENT = "/opt/ironclaw/guest-agent.mjs";

export type ViewEntry =
  /** A read-only bind of a host file or directory. */
  | { readonly kind: "bind"; readonly source: string; readonly target: string }
  | { readonly kind: "symlink"; readonly target: string; readonly linkTo: string }
  | { readonly kind: "proc" | "dev" | "tmpfs" | "dir"; readonly target: string };

const RUNTIME = "/usr";
/** Merged-usr hosts have these as links into /usr; others have real directories. */
const USR_LINKS = ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"];
/** The only host files under /etc the runtime needs: the loader cache and the alternatives links. */
const HOST_ETC = ["/etc/ld.so.cache", "/etc/alternatives"];
/** The sandbox's /etc files, written into its work dir at provisioning: never the host's. */
export const GENERATED_ETC: Readonly<Record<string, string>> = {
  passwd:
    "root:x:0:0:root:/root:/bin/sh\nironclaw-agent:x:999:999:IronClaw guest agent:/nonexistent:/usr/sbin/nologin\n" +
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
  group: "root:x:0:\nironclaw-agent:x:999:\nnogroup:x:65534:\n",
  hosts: "127.0.0.1 localhost ironclaw\n::1 localhost ironclaw\n",
  hostname: "ironclaw\n",
  "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
};

export interface ViewRuntime {
  readonly nodePath: string;
  readonly agentPath: string;
}

export function sandboxView(runtime: ViewRuntime, record: SandboxRecord): ViewEntry[] {
  const view: ViewEntry[] = [{ kind: "bind", source: RUNTIME, target: RUNTIME }];
  for (const link of USR_LINKS) {
    if (!existsSync(link)) continue;
    view.push(lstatSync(link).isSymbolicLink() ? { kind: "symlink", target: link, linkTo: readlinkSync(link) } : { kind: "bind", source: link, target: link });
  }
  for (const path of HOST_ETC) if (existsSync(path)) view.push({ kind: "bind", source: path, target: path });
  for (const f of Object.keys(GENERATED_ETC)) view.push({ kind: "bind", source: join(record.workDir, "etc", f), target: `/etc/${f}` });
  view.push(
    { kind: "bind", source: runtime.nodePath, target: GUEST_NODE },
    { kind: "bind", source: runtime.agentPath, target: GUEST_AGENT },
    { kind: "proc", target: "/proc" },
    { kind: "dev", target: "/dev" },
    { kind: "tmpfs", target: "/tmp" },
    { kind: "dir", target: "/root" },
    // Where a session's project copy goes (actors/session/workspace.ts): made here because "/" is not the
    // commands' to write in a namespace sandbox (the guest agent keeps it: see agent.ts OWN_DIRS).
    { kind: "dir", target: "/workspace" },
  );
  // Last, so that a path under /tmp lands on the fresh tmpfs rather than under it.
  for (const m of record.mounts ?? []) view.push({ kind: "bind", source: m.source, target: m.target });
  return view;
}

/** Whether every sandbox already sees this host path, at the same place (the read-only runtime). */
export function seenByEverySandbox(path: string): boolean {
  return [RUNTIME, ...USR_LINKS].some((dir) => path === dir || path.startsWith(`${dir}/`));
}

/** What every sandbox has of its own: a host path may not cover or replace any of these. */
const OWN = ["/proc", "/dev", "/tmp", "/etc", "/root", "/opt/ironclaw", RUNTIME, ...USR_LINKS];

/** Own directories that are plain writable directories of the sandbox: a path under one may be mounted there. */
const MOUNTABLE_UNDER = ["/tmp", "/root"];

/**
 * Why `target` cannot be a host mount, or null: it must be absolute and normal, and may not be
 * `/`, one of the sandbox's own directories, or a parent of one (a bind there would hide the
 * runtime or the agent), nor inside one, but for /tmp and /root (HOME): a path there lands on
 * the sandbox's own writable directory (a project under /root is common when running as root).
 */
export function hostMountProblem(target: string): string | null {
  if (!isAbsolute(target) || normalize(target) !== target || (target !== "/" && target.endsWith("/"))) return "is not a normal absolute path";
  for (const own of OWN) {
    if (target === own || own.startsWith(`${target === "/" ? "" : target}/`)) return `would cover the sandbox's own ${own}`;
    if (!MOUNTABLE_UNDER.includes(own) && target.startsWith(`${own}/`)) return `is inside the sandbox's own ${own}`;
  }
  return null;
}

/** One line for users: which limits are in force for this sandbox, and which asked for are not. */
export function limitsInForce(record: SandboxRecord): string {
  const { cgroup } = record;
  if (!cgroup) return "no memory, process or CPU limits";
  const limits = `cgroup v${cgroup.version} memory+pids`;
  if (cgroup.cpus !== undefined) return `${limits}+cpu limits (${cgroup.cpus} CPU${cgroup.cpus === 1 ? "" : "s"})`;
  // Asked for but not made: this host's cgroups have no cpu controller (doctor says why).
  return record.limits?.cpus !== undefined ? `${limits} limits; CPU limit not in force (no cpu controller)` : `${limits} limits; no CPU limit`;
}
