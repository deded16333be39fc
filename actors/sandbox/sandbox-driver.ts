// The one interface every isolation backend implements, in the spirit of the MCP SDK's
// Transport: small, one file per implementation, the machines never see which one runs.
import type { BackendName } from "../../core/backend.ts";
import type { GuestChannel } from "../guest/guest-channel.ts";
import type { Hello } from "../../guest-agent/guest-protocol.ts";
import type { CgroupSet } from "./cgroup.ts";
import type { ProcessIdentity } from "./host-process.ts";
import type { IdBlock } from "./sandbox-ids.ts";

export interface SandboxLimits {
  readonly memoryMiB: number;
  readonly pidsMax: number;
  /** CPU time the whole sandbox may use, in CPUs (1.5 = one and a half cores' worth); absent: unlimited. */
  readonly cpus?: number;
}

/** A host file or directory the sandbox sees read-only at `target` (checked by sandbox-view's hostMountProblem). */
export interface HostMount {
  readonly source: string;
  readonly target: string;
}

export interface SandboxSpec {
  readonly id: string;
  readonly backend: BackendName;
  readonly limits: SandboxLimits;
  /** Host paths to show read-only inside; only drivers with `hostMounts` accept any. */
  readonly mounts?: readonly HostMount[];
}

/**
 * Everything a sandbox made on the host, as plain data. It is written to the state directory
 * before the resource exists, so teardown — now, or by the reaper after a crash — can remove
 * exactly what was made, using nothing but this record.
 */
export interface SandboxRecord {
  readonly id: string;
  readonly backend: BackendName;
  readonly owner: ProcessIdentity;
  readonly createdAt: string;
  readonly workDir: string;
  readonly cgroup: CgroupSet | null;
  readonly process: ProcessIdentity | null;
  /** What the sandbox was provisioned with (for a VM: guest RAM plus the VMM's own). */
  readonly limits?: SandboxLimits;
  /** Host paths it sees read-only, beyond the runtime every sandbox sees. */
  readonly mounts?: readonly HostMount[];
  /** The host ids it runs under (IronClaw as root), held until destroy frees them. */
  readonly ids?: IdBlock;
}

/** A booted sandbox whose guest agent has said hello. */
export interface Sandbox {
  readonly record: SandboxRecord;
  readonly channel: GuestChannel;
  readonly hello: Hello;
  /** One line a user can read: which isolation is in force and with which limits. */
  readonly isolation: string;
  /** Resolves when the sandbox's host process has exited, for whatever reason. */
  readonly exited: Promise<SandboxExit>;
  /** Recent stderr of the sandbox binary and the agent, for error messages. */
  diagnostics(): string;
}

export interface SandboxExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What a probe found in force, measured from inside a real sandbox and from the host. */
export interface Hardening {
  /** Real uids of the sandbox's processes on the host (the sandbox binary and all it started). */
  readonly hostUids: readonly number[];
  /** The command's uid 0 as the host knows it (uid_map), when the sandbox has a user namespace. */
  readonly insideRootIsHost?: number;
  /** The command's seccomp mode: "filter" when a filter is in force (always off under gVisor: the Sentry is the kernel). */
  readonly seccomp: "filter" | "strict" | "off" | "unknown";
  readonly capabilities: string;
  readonly procSysWritable: boolean;
  readonly procKeysReadable: boolean;
  readonly nestedUserNamespaces: boolean;
  /** Whether a command can signal the guest agent (it then could trace or kill it too). */
  readonly agentReachable: boolean;
  readonly limits: SandboxLimits | null;
  readonly cgroup: 1 | 2 | null;
}

export interface ProbeResult {
  readonly backend: BackendName;
  readonly usable: boolean;
  readonly reason: string;
  readonly version?: string;
  readonly isolation?: string;
  readonly probeMs?: number;
  /** A VM that boots, but under software emulation (QEMU's TCG: no usable KVM); never the default then. */
  readonly emulated?: boolean;
  readonly hardening?: Hardening;
  /** Why the hardening could not be measured (doctor), when it could not. */
  readonly hardeningError?: string;
}

export interface SandboxDriver {
  readonly backend: BackendName;
  /**
   * Whether the sandbox can see host paths (`SandboxSpec.mounts`), read-only at the paths given.
   * The process backends bind them; a VM would need a shared filesystem device, not built yet.
   */
  readonly hostMounts?: boolean;
  /** Starts a real sandbox and runs the guest agent in it: the only honest answer to "does it work here". */
  probe(signal?: AbortSignal): Promise<ProbeResult>;
  /** Makes the host resources (work dir, cgroup) and records them. */
  provision(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxRecord>;
  /** Starts the sandbox and waits for the guest agent's hello. */
  boot(record: SandboxRecord, signal?: AbortSignal): Promise<Sandbox>;
  /** Removes everything the record names. Idempotent; safe on a record from a crashed process. */
  destroy(record: SandboxRecord): Promise<void>;
  /** Makes later boots with these limits fast, if the backend can (a VM snapshot to restore). */
  warm?(limits: SandboxLimits, signal?: AbortSignal): Promise<void>;
}

/**
 * Destroys a booted sandbox and waits (bounded) until its host process has been reaped, so a
 * process that exits right after (a daemon going down) leaves no zombie for init to collect.
 */
export async function destroySandbox(driver: SandboxDriver, sandbox: Sandbox, record: SandboxRecord = sandbox.record): Promise<void> {
  await driver.destroy(record);
  await Promise.race([sandbox.exited, new Promise((r) => setTimeout(r, 2000).unref())]);
}
