// Which backend runs a sandbox: the one asked for, else the strongest one that a real probe
// has shown to work on this machine. Probe results are cached in the state directory, keyed
// by what could change the answer (the backend binary, the Node runtime, the guest agent).
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findBwrap } from "../actors/sandbox/bubblewrap.driver.ts";
import { findFirecracker, jailerConfig } from "../actors/sandbox/firecracker.driver.ts";
import { findRunsc } from "../actors/sandbox/gvisor.driver.ts";
import { findQemu } from "../actors/sandbox/qemu.driver.ts";
import { findImage, imageInputs } from "../actors/sandbox/guest-image.ts";
import { BACKENDS, type BackendName } from "../core/backend.ts";
import { type ProbeResult, type SandboxDriver } from "../actors/sandbox/sandbox-driver.ts";
import { parseBackend } from "../core/backend.ts";
import { chooseBackend, noBackendMessage, type PassedOver } from "../core/backend-choice.ts";
import { guestAgentPath, stateDir } from "../core/paths.ts";
import { SandboxError } from "../core/errors.ts";

/** A driver for every backend, as the runtime makes them (createDrivers). */
export type Drivers = Readonly<Record<BackendName, SandboxDriver>>;

/** Strongest isolation first. */
export const PREFERENCE: readonly BackendName[] = BACKENDS;
const CACHE_TTL_MS = 24 * 60 * 60 * 1000;
const PROBE_FORMAT = 2;

function mtime(path: string | null): number {
  try {
    return path ? statSync(path).mtimeMs : 0;
  } catch {
    return 0;
  }
}

function binaryOf(backend: BackendName): string | null {
  switch (backend) {
    case "namespace":
      return findBwrap();
    case "gvisor":
      return findRunsc();
    case "qemu":
      return findQemu();
    case "firecracker":
      return findFirecracker();
  }
}

function cacheKey(backend: BackendName): string {
  const binary = binaryOf(backend);
  // A VM backend's answer also depends on the guest image built for this version (and on the
  // jailer for Firecracker). Not looked up without the binary: "not installed" is the answer
  // then, and `exec` should not pay for hashing the image inputs to learn it.
  const vm = (backend === "qemu" || backend === "firecracker") && binary !== null;
  const image = vm ? (findImage(imageInputs({ nodePath: process.execPath, agentPath: guestAgentPath() }))?.id ?? "no image") : "";
  const jailer = backend === "firecracker" && binary !== null ? [jailerConfig(binary)?.jailer ?? "no jailer"] : [];
  // PROBE_FORMAT: a cached answer from before probes said whether a VM runs emulated is asked again.
  return [PROBE_FORMAT, backend, binary, mtime(binary), process.version, mtime(guestAgentPath()), process.getuid?.(), image, ...jailer].join("|");
}

type Cache = Partial<Record<BackendName, { key: string; at: number; result: ProbeResult }>>;
const cacheFile = () => join(stateDir(), "probe-cache.json");

function readCache(): Cache {
  try {
    return JSON.parse(readFileSync(cacheFile(), "utf8")) as Cache;
  } catch {
    return {};
  }
}

export function rememberProbe(result: ProbeResult): void {
  const cache = readCache();
  cache[result.backend] = { key: cacheKey(result.backend), at: Date.now(), result };
  try {
    writeFileSync(cacheFile(), JSON.stringify(cache), { mode: 0o600 });
  } catch {
    // A cache we cannot write only costs a probe next time.
  }
}

export async function probeCached(driver: SandboxDriver): Promise<ProbeResult> {
  const hit = readCache()[driver.backend];
  if (hit && hit.key === cacheKey(driver.backend) && Date.now() - hit.at < CACHE_TTL_MS) return hit.result;
  const result = await driver.probe();
  rememberProbe(result);
  return result;
}

/** The backend a sandbox runs on, and the stronger ones passed over on the way (none when one was named). */
export interface SelectedBackend {
  readonly driver: SandboxDriver;
  readonly backend: BackendName;
  readonly passedOver: readonly PassedOver[];
}

/** The backend asked for, else the strongest that works here at hardware speed (core/backend-choice.ts). */
export async function selectBackend(requested: string | undefined, drivers: Drivers): Promise<SelectedBackend> {
  if (requested !== undefined) {
    const backend = parseBackend(requested);
    return { driver: drivers[backend], backend, passedOver: [] };
  }
  const choice = await chooseBackend((name) => probeCached(drivers[name]));
  // Never a silent fall-back to the host: with no sandbox, nothing runs.
  if (choice.chosen === null) throw new SandboxError("EBACKEND", noBackendMessage(choice));
  return { driver: drivers[choice.chosen], backend: choice.chosen, passedOver: choice.passedOver };
}

/**
 * For a sandbox that must see host paths (a sandboxed MCP server and its files): the backend
 * asked for if it can mount them, else the strongest that can and whose probe succeeds.
 */
export async function selectMountingBackend(requested: BackendName | undefined, drivers: Drivers): Promise<SandboxDriver> {
  const mounting = PREFERENCE.filter((name) => drivers[name].hostMounts);
  if (requested !== undefined) {
    const driver = drivers[requested];
    if (!driver.hostMounts) {
      throw new SandboxError("EBACKEND", `the ${requested} backend cannot show a sandbox host files yet (it has no shared filesystem device); use ${mounting.join(" or ")}`);
    }
    return driver;
  }
  const reasons: string[] = [];
  for (const name of mounting) {
    const probe = await probeCached(drivers[name]);
    if (probe.usable) return drivers[name];
    reasons.push(`${name}: ${probe.reason}`);
  }
  throw new SandboxError("EBACKEND", `no sandbox backend that can show host files works on this machine (${reasons.join("; ")}); run \`ironclaw doctor\``);
}
