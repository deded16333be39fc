// Micro-VM figures: cold boot to guest-agent-ready per VM backend, against the same QEMU
// booting the same kernel and initramfs straight to its first userspace process (init =
// /bin/true), measured in the same run; and restore from a snapshot to guest-agent-ready.
// Prints JSON; asserts nothing.
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findImage, imageInputs } from "../actors/sandbox/guest-image.ts";
import { findQemu, kernelTuning } from "../actors/sandbox/qemu.driver.ts";
import { createDriverEnv, createDrivers } from "../src/runtime.ts";

const RUNS = Number(process.env.BENCH_VM_RUNS ?? 5);
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const round = (x: number) => Math.round(x);

const env = createDriverEnv();
const image = findImage(imageInputs(env));
const qemu = findQemu();
if (!image || !qemu) {
  console.log(JSON.stringify({ skipped: !qemu ? "QEMU is not installed" : "no guest image (ironclaw image build)" }));
  process.exit(0);
}

/**
 * Raw QEMU: the same machine, kernel and initramfs, to the moment the kernel runs its first
 * process; the kernel is tuned as for our boots (kernelTuning) but not quiet, since the line
 * that says the first process runs is what is waited for.
 */
function rawBoot(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      qemu!,
      [
        "-M",
        `microvm,accel=${accelerator}`,
        "-cpu",
        accelerator === "kvm" ? "host" : "max",
        "-m",
        "512",
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-nographic",
        "-no-reboot",
        "-kernel",
        image!.kernel,
        "-initrd",
        image!.initrd,
        "-append",
        ["console=ttyS0", "panic=-1", "rdinit=/bin/true", ...kernelTuning()].join(" "),
        "-serial",
        "stdio",
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (/Run \/bin\/true/.test(out)) {
        resolve(performance.now() - t0);
        child.kill("SIGKILL");
      }
    });
    child.once("exit", () => reject(new Error("raw boot ended before init ran")));
  });
}

const driver = createDrivers(env).qemu!;
const ours: number[] = [];
let accelerator = "tcg";
const raw: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const record = await driver.provision({ id: `bench-vm-${i}-${process.pid}`, backend: "qemu", limits: { memoryMiB: 512, pidsMax: 256 } });
  const sandbox = await driver.boot(record);
  ours.push(performance.now() - t0);
  accelerator = sandbox.isolation.includes("(KVM)") ? "kvm" : "tcg";
  await driver.destroy(sandbox.record);
  raw.push(await rawBoot()); // after ours: by then the accelerator in force is known
}
// Restore from a snapshot (made once, outside the timing) against the cold boots above.
process.env.IRONCLAW_SNAPSHOT_PATH ??= join(tmpdir(), `ironclaw-bench-snapshots-${process.pid}`);
await driver.warm!({ memoryMiB: 512, pidsMax: 256 });
const restored: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const record = await driver.provision({ id: `bench-restore-${i}-${process.pid}`, backend: "qemu", limits: { memoryMiB: 512, pidsMax: 256 } });
  const sandbox = await driver.boot(record);
  restored.push(performance.now() - t0);
  await driver.destroy(sandbox.record);
}
rmSync(join(tmpdir(), `ironclaw-bench-snapshots-${process.pid}`), { recursive: true, force: true });

console.log(
  JSON.stringify({
    runs: RUNS,
    accelerator,
    results: [
      {
        backend: "qemu",
        bootToAgentMedianMs: round(quantile(ours, 0.5)),
        rawBootToInitMedianMs: round(quantile(raw, 0.5)),
        ratio: Math.round((quantile(ours, 0.5) / quantile(raw, 0.5)) * 100) / 100,
        restoreToAgentMedianMs: round(quantile(restored, 0.5)),
        restoreOverCold: Math.round((quantile(restored, 0.5) / quantile(ours, 0.5)) * 100) / 100,
      },
    ],
    targets: { ratio: 1.2, restoreOverCold: 0.5 },
    note: "cold: the guest agent's first start (Node under TCG) is most of the difference to raw QEMU; restore skips it",
  }),
);
