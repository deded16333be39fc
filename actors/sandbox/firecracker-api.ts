// The Firecracker VMM's HTTP API, as IronClaw uses it: pure request plans (what to send, in
// which order — checked against Firecracker's own API description by
// tests/contract/firecracker-api.test.ts) and a small client that sends them over the API's
// Unix socket.
import { request } from "node:http";
import { Effect, Schedule } from "effect";
import { FirecrackerApiError } from "../../core/errors.ts";

export interface ApiRequest {
  readonly method: "GET" | "PUT" | "PATCH";
  readonly path: string;
  readonly body?: Readonly<Record<string, unknown>>;
}

export interface FirecrackerVmConfig {
  readonly kernelPath: string;
  readonly initrdPath?: string;
  readonly bootArgs: string;
  /** The read-only root filesystem image; the guest puts a writable overlay in RAM over it. */
  readonly rootfsPath: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** Host side of the guest's vsock: Firecracker listens here for host-initiated connections. */
  readonly vsockPath: string;
  readonly guestCid: number;
  /** Only when a task is granted network access: a TAP device on the host. */
  readonly network?: { readonly tapDevice: string; readonly guestMac?: string };
}

/** Configure a fresh Firecracker process and start the guest. */
export function bootPlan(vm: FirecrackerVmConfig): ApiRequest[] {
  return [
    { method: "PUT", path: "/machine-config", body: { vcpu_count: vm.vcpus, mem_size_mib: vm.memoryMiB, smt: false } },
    {
      method: "PUT",
      path: "/boot-source",
      body: { kernel_image_path: vm.kernelPath, boot_args: vm.bootArgs, ...(vm.initrdPath && { initrd_path: vm.initrdPath }) },
    },
    {
      method: "PUT",
      path: "/drives/rootfs",
      body: { drive_id: "rootfs", path_on_host: vm.rootfsPath, is_root_device: false, is_read_only: true },
    },
    { method: "PUT", path: "/vsock", body: { guest_cid: vm.guestCid, uds_path: vm.vsockPath } },
    ...(vm.network
      ? [
          {
            method: "PUT" as const,
            path: "/network-interfaces/eth0",
            body: { iface_id: "eth0", host_dev_name: vm.network.tapDevice, ...(vm.network.guestMac && { guest_mac: vm.network.guestMac }) },
          },
        ]
      : []),
    { method: "PUT", path: "/actions", body: { action_type: "InstanceStart" } },
  ];
}

/** Pause a booted guest and write its full state and memory to files. */
export function snapshotCreatePlan(snapshotPath: string, memoryPath: string): ApiRequest[] {
  return [
    { method: "PATCH", path: "/vm", body: { state: "Paused" } },
    { method: "PUT", path: "/snapshot/create", body: { snapshot_type: "Full", snapshot_path: snapshotPath, mem_file_path: memoryPath } },
  ];
}

/**
 * Restore a snapshot into a fresh Firecracker process and run it. `vsockPath` gives the restored
 * VM this sandbox's own vsock socket; without it, the socket is where the snapshotted VM had it
 * (right for a jailed Firecracker, whose paths are relative to a chroot of its own).
 */
export function snapshotLoadPlan(snapshotPath: string, memoryPath: string, vsockPath?: string): ApiRequest[] {
  return [
    {
      method: "PUT",
      path: "/snapshot/load",
      body: {
        snapshot_path: snapshotPath,
        mem_backend: { backend_type: "File", backend_path: memoryPath },
        ...(vsockPath !== undefined && { vsock_override: { uds_path: vsockPath } }),
        resume_vm: true,
      },
    },
  ];
}

export const versionRequest: ApiRequest = { method: "GET", path: "/version" };

/** Sends one request over the API socket; resolves with the parsed body, rejects with Firecracker's fault message. */
export function send(socketPath: string, req: ApiRequest, signal?: AbortSignal): Promise<unknown> {
  const payload = req.body ? JSON.stringify(req.body) : undefined;
  return new Promise((resolve, reject) => {
    const r = request(
      {
        socketPath,
        method: req.method,
        path: req.path,
        headers: { Accept: "application/json", ...(payload && { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }) },
        ...(signal && { signal }),
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => {
          const body = text ? safeJson(text) : undefined;
          if ((res.statusCode ?? 500) < 300) return resolve(body);
          const fault = (body as { fault_message?: string } | undefined)?.fault_message ?? text;
          reject(new FirecrackerApiError(res.statusCode ?? 500, `firecracker ${req.method} ${req.path} failed (${res.statusCode}): ${fault}`));
        });
      },
    );
    r.on("error", reject);
    r.end(payload);
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function sendAll(socketPath: string, plan: readonly ApiRequest[], signal?: AbortSignal): Promise<void> {
  for (const req of plan) await send(socketPath, req, signal);
}

/**
 * Firecracker creates its API socket a moment after it starts: ask for its version until it
 * answers (an HTTP error is an answer, and is not retried). Resolves with the version.
 */
export async function waitForApi(socketPath: string, signal: AbortSignal): Promise<string> {
  const attempt = Effect.tryPromise({ try: (s) => send(socketPath, versionRequest, s), catch: (e) => e as Error });
  const untilItListens = Effect.retry(attempt, { schedule: Schedule.spaced("5 millis"), while: (e) => !(e instanceof FirecrackerApiError) && !signal.aborted });
  const info = (await Effect.runPromise(untilItListens, { signal })) as { firecracker_version?: unknown } | undefined;
  return typeof info?.firecracker_version === "string" ? info.firecracker_version : "unknown";
}
