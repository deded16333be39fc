// The real FirecrackerDriver against a stand-in Firecracker (tests/contract/fake-firecracker.ts):
// every request the driver actually sends over the API socket — not just the pure plans — is
// recorded and checked against Firecracker's API description, and the driver reaches the real
// guest agent through the vsock handshake. Firecracker itself cannot run on these machines (not
// packaged; KVM here is PVM-only), so this test double is what proves the driver's HTTP
// sequence; tests/integration/firecracker.test.ts boots real VMs where Firecracker can run.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FirecrackerDriver, type JailerConfig } from "../../actors/sandbox/firecracker.driver.ts";
import type { GuestImage } from "../../actors/sandbox/guest-image.ts";
import { isAlive } from "../../actors/sandbox/host-process.ts";
import type { Sandbox, SandboxRecord } from "../../actors/sandbox/sandbox-driver.ts";
import { AGENT_VSOCK_PORT } from "../../guest-agent/guest-protocol.ts";
import { guestAgentPath } from "../../core/paths.ts";
import { env, limits, sandboxId } from "../support/backends.ts";
import { createValidator, specPresent } from "../support/firecracker-spec.ts";

const scratch = process.env.IRONCLAW_TEST_SCRATCH ?? tmpdir();
mkdirSync(scratch, { recursive: true });
const dir = mkdtempSync(join(scratch, "fc-driver-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly body?: Record<string, unknown>;
  readonly contentType: string | null;
}

/** A `firecracker` on disk that runs the fake, recording what it is sent to a file of its own. */
function fakeFirecracker(name: string): { fc: string; sent: () => Sent[]; clear: () => void } {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true, mode: 0o755 });
  const record = join(home, "requests.jsonl");
  const fc = join(home, "firecracker");
  const fake = join(import.meta.dirname, "fake-firecracker.ts");
  writeFileSync(fc, `#!/bin/sh\nexec '${process.execPath}' '${fake}' --record '${record}' --agent '${guestAgentPath()}' "$@"\n`);
  chmodSync(fc, 0o755);
  return {
    fc,
    sent: () =>
      existsSync(record)
        ? readFileSync(record, "utf8")
            .trim()
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Sent)
        : [],
    clear: () => rmSync(record, { force: true }),
  };
}

/** Files shaped like a guest image's: Firecracker opens them, the fake checks they are there. */
function fakeImage(): GuestImage {
  const d = join(dir, "image");
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "vmlinux"), Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(60)]));
  writeFileSync(join(d, "initramfs.cpio.gz"), "initrd");
  writeFileSync(join(d, "rootfs.ext4"), "rootfs");
  return {
    id: "v1-fakeimage0001",
    dir: d,
    format: 1,
    kernel: join(d, "vmlinux"),
    initrd: join(d, "initramfs.cpio.gz"),
    rootfs: join(d, "rootfs.ext4"),
    kernelRelease: "6.1.0-fake-amd64",
    inputs: "fake",
    createdAt: new Date().toISOString(),
    bytes: 0,
  };
}

const image = fakeImage();
const snapshots = join(dir, "snapshots");

function driverWith(fc: string, jail: JailerConfig | null = null, kvmBoots: boolean | null = true): FirecrackerDriver {
  return new FirecrackerDriver({
    ...env,
    image: () => image,
    firecracker: () => fc,
    jailer: () => jail,
    kvmBoots: async () => kvmBoots,
    snapshots: () => ({ dir: snapshots, refreshMs: 600_000 }),
  });
}

async function withBooted<T>(driver: FirecrackerDriver, body: (sandbox: Sandbox) => Promise<T>): Promise<{ result: T; record: SandboxRecord }> {
  let record = await driver.provision({ id: sandboxId("fc"), backend: "firecracker", limits });
  try {
    const sandbox = await driver.boot(record);
    record = sandbox.record;
    return { result: await body(sandbox), record };
  } finally {
    await driver.destroy(record);
  }
}

async function run(sandbox: Sandbox, script: string): Promise<{ code: number | null; out: string }> {
  let out = "";
  const exit = await sandbox.channel.exec({ argv: ["sh", "-c", script] }, (_, d) => (out += d));
  return { code: exit.code, out };
}

function expectGone(record: SandboxRecord): void {
  expect(isAlive(record.process!)).toBe(false);
  expect(existsSync(record.workDir)).toBe(false);
  for (const d of record.cgroup?.dirs ?? []) expect(existsSync(d)).toBe(false);
  expect(env.store.read(record.id)).toBeUndefined();
}

const lines = (sent: Sent[]) => sent.map((r) => `${r.method} ${r.path}`);
const BOOT = ["GET /version", "PUT /machine-config", "PUT /boot-source", "PUT /drives/rootfs", "PUT /vsock", "PUT /actions"];

describe.skipIf(!specPresent)("Firecracker driver against a stand-in Firecracker", () => {
  const problems = specPresent ? createValidator() : () => [];
  const expectValid = (sent: Sent[]) => {
    for (const r of sent) {
      expect(problems(r.method, r.path, r.body), `${r.method} ${r.path}`).toEqual([]);
      if (r.body !== undefined) expect(r.contentType).toBe("application/json");
    }
  };

  it("configures the VM through the API, reaches the agent over vsock, and leaves nothing behind", async () => {
    const fake = fakeFirecracker("cold");
    const { result, record } = await withBooted(driverWith(fake.fc), async (sandbox) => {
      expect(sandbox.isolation).toMatch(/^firecracker micro-VM \(KVM, booted cold\), guest kernel 6\.1\.0-fake-amd64, 256 MiB; no network device/);
      return run(sandbox, "echo through-vsock; exit 3");
    });
    expect(result).toEqual({ code: 3, out: "through-vsock\n" });
    expectGone(record);

    const sent = fake.sent();
    expect(lines(sent)).toEqual(BOOT);
    expectValid(sent);
    const body = (path: string) => sent.find((r) => r.path === path)!.body!;
    expect(body("/machine-config")).toMatchObject({ vcpu_count: 1, mem_size_mib: limits.memoryMiB });
    expect(body("/boot-source")).toMatchObject({ kernel_image_path: image.kernel, initrd_path: image.initrd });
    expect(String(body("/boot-source").boot_args).split(" ")).toEqual(expect.arrayContaining(["console=ttyS0", "reboot=k", `IRONCLAW_VSOCK_PORT=${AGENT_VSOCK_PORT}`]));
    expect(body("/drives/rootfs")).toEqual({ drive_id: "rootfs", path_on_host: image.rootfs, is_root_device: false, is_read_only: true });
    expect(body("/vsock")).toEqual({ guest_cid: 3, uds_path: join(record.workDir, "vsock.sock") });
    expect(body("/actions")).toEqual({ action_type: "InstanceStart" });
  });

  it("ends the VM when the agent is told to shut down (the guest reboots, Firecracker exits)", async () => {
    const fake = fakeFirecracker("shutdown");
    await withBooted(driverWith(fake.fc), async (sandbox) => {
      await sandbox.channel.shutdown();
      expect(await sandbox.exited).toEqual({ code: 0, signal: null });
    });
  });

  it("snapshots a booted VM once (pause, create) and restores each later sandbox from it in a fresh Firecracker", async () => {
    const fake = fakeFirecracker("snapshot");
    const driver = driverWith(fake.fc);
    await Promise.all([driver.warm(limits), driver.warm(limits)]); // one snapshot, however many slots warm at once
    const base = join(snapshots, `${image.id}-m${limits.memoryMiB}-firecracker`);
    for (const f of [`${base}.snap`, `${base}.mem`]) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readdirSync(snapshots).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(env.store.list().filter((r) => r.backend === "firecracker" && r.id.startsWith("snapshot-"))).toEqual([]);
    const made = fake.sent();
    expect(lines(made)).toEqual([...BOOT, "PATCH /vm", "PUT /snapshot/create"]);
    expectValid(made);
    expect(made.at(-2)!.body).toEqual({ state: "Paused" });
    expect(made.at(-1)!.body).toEqual({ snapshot_type: "Full", snapshot_path: `${base}.snap.${process.pid}.tmp`, mem_file_path: `${base}.mem.${process.pid}.tmp` });

    await driver.warm(limits); // fresh already: nothing is booted
    expect(fake.sent()).toHaveLength(made.length);

    for (const n of [1, 2]) {
      fake.clear();
      const { result, record } = await withBooted(driver, async (sandbox) => {
        expect(sandbox.isolation).toContain("restored from a snapshot");
        return run(sandbox, `echo restored-${n}`);
      });
      expect(result).toEqual({ code: 0, out: `restored-${n}\n` });
      expectGone(record);
      const sent = fake.sent();
      expect(lines(sent)).toEqual(["GET /version", "PUT /snapshot/load"]);
      expectValid(sent);
      // This sandbox's own vsock socket, not the one of the VM the snapshot was taken from.
      expect(sent[1]!.body).toEqual({
        snapshot_path: `${base}.snap`,
        mem_backend: { backend_type: "File", backend_path: `${base}.mem` },
        vsock_override: { uds_path: join(record.workDir, "vsock.sock") },
        resume_vm: true,
      });
    }

    // A snapshot Firecracker cannot load is dropped, and the boot goes cold in a fresh process.
    writeFileSync(`${base}.snap`, "not a microVM state", { mode: 0o600 });
    fake.clear();
    const { record } = await withBooted(driver, async (sandbox) => expect(sandbox.isolation).toContain("booted cold"));
    expectGone(record);
    expect(lines(fake.sent())).toEqual(["GET /version", "PUT /snapshot/load", ...BOOT]);
    expect(existsSync(`${base}.snap`) || existsSync(`${base}.mem`)).toBe(false);
  });

  it("probes honestly: no binary, or a KVM that does not boot, is unusable with the reason; otherwise a real boot decides", async () => {
    const fake = fakeFirecracker("probe");
    const missing = new FirecrackerDriver({
      ...env,
      image: () => image,
      firecracker: () => null,
      jailer: () => null,
      kvmBoots: async () => true,
      snapshots: () => ({ dir: snapshots, refreshMs: 1 }),
    });
    expect(await missing.probe()).toMatchObject({ backend: "firecracker", usable: false, reason: expect.stringMatching(/Firecracker is not installed/) });
    await expect(missing.provision({ id: "nofc", backend: "firecracker", limits })).rejects.toThrow(/put `firecracker` on PATH or set IRONCLAW_FIRECRACKER/);

    const kvm = existsSync("/dev/kvm");
    const hung = await driverWith(fake.fc, null, false).probe();
    expect(hung.usable).toBe(false);
    expect(hung.reason).toMatch(kvm ? /KVM does not boot a guest kernel here|not usable by this user/ : /\/dev\/kvm is missing/);
    expect(fake.sent()).toEqual([]); // decided without starting a VM

    if (kvm) {
      const ok = await driverWith(fake.fc, null, true).probe();
      expect(ok).toMatchObject({ usable: true, version: "Firecracker v1.17.0-fake" });
      expect(lines(fake.sent())).toEqual(BOOT);
    }
  });

  // The jailer needs root; so does this stand-in for it, which checks the jail the driver made and
  // starts the fake Firecracker with its paths resolved in that chroot (it does not chroot or
  // drop privileges itself: the driver's side of the contract is what is under test).
  it.skipIf(process.getuid?.() !== 0)("under the jailer: files linked into the jail, chroot paths on the wire, jailed snapshots", async () => {
    const fake = fakeFirecracker("jailed");
    const jailer = join(dir, "jailed", "jailer");
    writeFileSync(
      jailer,
      `#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in
  --id) id=$2; shift 2;; --exec-file) exe=$2; shift 2;; --uid) uid=$2; shift 2;; --gid) gid=$2; shift 2;;
  --chroot-base-dir) base=$2; shift 2;; --) shift; break;; *) echo "fake jailer: unexpected $1" >&2; exit 2;; esac; done
root=$base/$(basename "$exe")/$id/root
[ "$(stat -c %u:%g "$root")" = "$uid:$gid" ] || { echo "fake jailer: $root is not owned by $uid:$gid" >&2; exit 1; }
exec "$exe" --chroot "$root" "$@"
`,
    );
    chmodSync(jailer, 0o755);
    const jail = { jailer, uid: 65534, gid: 65534 };
    const driver = driverWith(fake.fc, jail);

    const { record } = await withBooted(driver, async (sandbox) => {
      expect(sandbox.isolation).toContain("booted cold, jailed as uid 65534");
      const root = join(sandbox.record.workDir, "jail", "firecracker", sandbox.record.id.replace(/[^A-Za-z0-9-]/g, "0"), "root");
      // Hard links, not copies: a jail costs no disk.
      expect(statSync(join(root, "rootfs.ext4")).ino).toBe(statSync(image.rootfs).ino);
      expect((await run(sandbox, "echo jailed")).out).toBe("jailed\n");
    });
    expectGone(record);
    const sent = fake.sent();
    expectValid(sent);
    const body = (path: string) => sent.find((r) => r.path === path)!.body!;
    expect(body("/boot-source")).toMatchObject({ kernel_image_path: "/vmlinux", initrd_path: "/initrd" });
    expect(body("/drives/rootfs")).toMatchObject({ path_on_host: "/rootfs.ext4" });
    expect(body("/vsock")).toMatchObject({ uds_path: "/vsock.sock" });

    fake.clear();
    await driver.warm(limits);
    const base = join(snapshots, `${image.id}-m${limits.memoryMiB}-firecracker-jailed`);
    for (const f of [`${base}.snap`, `${base}.mem`]) {
      const s = statSync(f);
      expect([s.uid, s.gid, s.mode & 0o777]).toEqual([65534, 65534, 0o600]); // the jail user's alone
    }
    expect(fake.sent().at(-1)!.body).toEqual({ snapshot_type: "Full", snapshot_path: "/vm.snap", mem_file_path: "/vm.mem" });

    fake.clear();
    const restored = await withBooted(driver, async (sandbox) => {
      expect(sandbox.isolation).toContain("restored from a snapshot, jailed");
      return run(sandbox, "echo restored-in-jail");
    });
    expect(restored.result.out).toBe("restored-in-jail\n");
    expectGone(restored.record);
    // The same chroot paths in every jail: no vsock override needed.
    expect(fake.sent()[1]!.body).toEqual({ snapshot_path: "/vm.snap", mem_backend: { backend_type: "File", backend_path: "/vm.mem" }, resume_vm: true });
  });
});
