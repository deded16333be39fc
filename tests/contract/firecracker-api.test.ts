// Every request the Firecracker driver sends — path, method and JSON body — checked against
// Firecracker's own API description (Swagger 2.0).
import { describe, expect, it } from "vitest";
import { bootPlan, snapshotCreatePlan, snapshotLoadPlan, versionRequest, type ApiRequest } from "../../actors/sandbox/firecracker-api.ts";
import { createValidator, specPresent, vmConfig } from "../support/firecracker-spec.ts";

/** Every request any driver path sends. */
const plans: Record<string, ApiRequest[]> = {
  "boot without network": bootPlan(vmConfig),
  "boot with network": bootPlan({ ...vmConfig, network: { tapDevice: "ic-tap0", guestMac: "06:00:ac:10:00:02" } }),
  "snapshot create": snapshotCreatePlan("/s/vm.snap", "/s/vm.mem"),
  "snapshot load": snapshotLoadPlan("/s/vm.snap", "/s/vm.mem", "/tmp/ironclaw-0/x2/vsock.sock"),
  version: [versionRequest],
};

describe.skipIf(!specPresent)("Firecracker API contract", () => {
  const problems = specPresent ? createValidator() : () => [];

  it.each(Object.entries(plans).flatMap(([plan, reqs]) => reqs.map((r) => [`${plan}: ${r.method} ${r.path}`, r] as const)))("%s", (_, req) => {
    expect(problems(req.method, req.path, req.body)).toEqual([]);
  });

  it("rejects what Firecracker would reject (the check itself can fail)", () => {
    expect(problems("PUT", "/machine-config", { vcpu_count: 1, memory_mib: 512 })).toContain("unknown field memory_mib");
    expect(problems("PUT", "/vsocks", { guest_cid: 3, uds_path: "/x" })).toEqual(["PUT /vsocks is not in Firecracker's API"]);
    expect(problems("PUT", "/snapshot/create", { snapshot_type: "Complete", snapshot_path: "a", mem_file_path: "b" })).not.toEqual([]);
    expect(problems("PUT", "/vsock", { guest_cid: 2, uds_path: "/x" })).not.toEqual([]); // CIDs below 3 are reserved
  });

  it("boots in the order Firecracker requires: configuration first, InstanceStart last and once", () => {
    const boot = plans["boot with network"]!;
    expect(boot.at(-1)).toEqual({ method: "PUT", path: "/actions", body: { action_type: "InstanceStart" } });
    expect(boot.filter((r) => r.path === "/actions")).toHaveLength(1);
  });
});
