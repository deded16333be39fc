// The one module that makes and opens sandbox handles (core/handles.ts). A handle is the
// SandboxLease itself: whoever holds one holds the duty to release it, and handing the handle
// over (a pool slot's sandbox to the vm that adopts it) hands that duty over.
import type { BootedSandbox, RecordHandle, SandboxHandle } from "../../core/handles.ts";
import type { Sandbox } from "./sandbox-driver.ts";
import { SandboxLease } from "./sandbox-lease.ts";

/** A provisioned lease, as the vm machine holds it until boot. */
export const recordHandle = (lease: SandboxLease): RecordHandle => lease as unknown as RecordHandle;

/** A booted lease, with the facts about it that machines and src/ may read. */
export function bootedSandbox(lease: SandboxLease): BootedSandbox {
  return { handle: lease as unknown as SandboxHandle, id: lease.id, isolation: lease.sandbox.isolation };
}

export function leaseOf(handle: SandboxHandle | RecordHandle): SandboxLease {
  if (handle instanceof SandboxLease) return handle;
  throw new TypeError("not a sandbox handle");
}

/** The booted sandbox a handle names: its guest channel, its record, its exit. */
export const sandboxOf = (handle: SandboxHandle): Sandbox => leaseOf(handle).sandbox;
