// The micro-VM guest image: Debian's cloud kernel, a busybox initramfs that loads the virtio
// modules, and a read-only ext4 root holding the Node runtime and the guest agent. Built
// without root by guest-agent/image/build-image.sh into a versioned cache directory; each image
// is named by the hash of its content and remembers the inputs it was built from, so a changed
// guest agent is never booted from a stale image.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { sha256Hex } from "../../core/hash.ts";
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { ImageBuildError } from "../../core/errors.ts";
import { packageRoot } from "../../core/paths.ts";

/** Bumped when the image's layout or its boot contract changes. */
export const IMAGE_FORMAT = 1;

export interface GuestImage {
  readonly id: string;
  readonly dir: string;
  readonly format: number;
  /** The uncompressed kernel when the build could extract it (faster under TCG), else the bzImage. */
  readonly kernel: string;
  readonly initrd: string;
  readonly rootfs: string;
  readonly kernelRelease: string;
  readonly inputs: string;
  readonly createdAt: string;
  readonly bytes: number;
}

export interface ImageInputs {
  readonly nodePath: string;
  readonly agentPath: string;
  readonly scriptDir: string;
}

/** What this installation builds its image from: the Node and guest agent sandboxes run, and the build scripts it ships. */
export const imageInputs = (env: { readonly nodePath: string; readonly agentPath: string }): ImageInputs => ({
  nodePath: env.nodePath,
  agentPath: env.agentPath,
  scriptDir: join(packageRoot(), "guest-agent", "image"),
});

/**
 * The guest agent as a CommonJS script, built beside the agent's ES module by scripts/build.mjs
 * from the same source: the image builds the agent's V8 startup snapshot from it (`node
 * --build-snapshot` cannot start from an ES module).
 */
export function snapshotEntryPath(agentPath: string): string {
  return join(dirname(agentPath), "guest-agent.snapshot.cjs");
}

export function imagesDir(): string {
  if (process.env.IRONCLAW_IMAGE_DIR) return process.env.IRONCLAW_IMAGE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ironclaw", "images");
}

/** What an image is built from: if any of it changes, the image must be rebuilt. Cheap enough for every boot. */
export function inputsKey(inputs: ImageInputs): string {
  const node = statSync(inputs.nodePath);
  const scripts = ["build-image.sh", "init", "stage2-init"].map((f) => readFileSync(join(inputs.scriptDir, f)));
  return sha256Hex(
    JSON.stringify({
      format: IMAGE_FORMAT,
      node: [node.size, node.mtimeMs],
      agent: sha256Hex(readFileSync(inputs.agentPath)),
      // Missing only in a stale build; the image build then says so.
      snapshotEntry: existsSync(snapshotEntryPath(inputs.agentPath)) ? sha256Hex(readFileSync(snapshotEntryPath(inputs.agentPath))) : null,
      scripts: sha256Hex(Buffer.concat(scripts)),
    }),
  ).slice(0, 16);
}

export function listImages(): GuestImage[] {
  const dir = imagesDir();
  if (!existsSync(dir)) return [];
  const images: GuestImage[] = [];
  for (const name of readdirSync(dir)) {
    const manifest = join(dir, name, "manifest.json");
    if (!existsSync(manifest)) continue;
    try {
      const image = JSON.parse(readFileSync(manifest, "utf8")) as GuestImage;
      // The directory's name is the id `rm` and `prune` act on, whatever the manifest says.
      images.push({ ...image, id: name, createdAt: String(image.createdAt ?? ""), bytes: Number(image.bytes) || 0 });
    } catch {
      // a half-written image is not an image
    }
  }
  return images.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
}

/** The newest image built from exactly these inputs, or null. */
export function findImage(inputs: ImageInputs): GuestImage | null {
  const key = inputsKey(inputs);
  return listImages().find((i) => i.inputs === key && i.format === IMAGE_FORMAT) ?? null;
}

export function removeImage(id: string): boolean {
  const dir = join(imagesDir(), id);
  if (!existsSync(join(dir, "manifest.json"))) return false;
  rmSync(dir, { recursive: true, force: true });
  return true;
}

async function hashFiles(files: string[]): Promise<string> {
  const hash = createHash("sha256");
  for (const file of files) {
    await new Promise<void>((resolve, reject) => {
      createReadStream(file)
        .on("data", (d) => hash.update(d))
        .on("end", resolve)
        .on("error", reject);
    });
  }
  return hash.digest("hex");
}

/**
 * Builds an image (or returns the one already built from the same inputs, unless `force`).
 * `onStep` receives each step the build script announces; the script's output goes to its log.
 */
export async function buildImage(inputs: ImageInputs, options: { force?: boolean; onStep?: (step: string) => void; signal?: AbortSignal } = {}): Promise<GuestImage> {
  const existing = findImage(inputs);
  if (existing && !options.force) return existing;
  const root = imagesDir();
  const work = join(root, ".work");
  const out = join(root, `.building-${process.pid}`);
  mkdirSync(work, { recursive: true });
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const logFile = join(root, "build.log");
  let log = "";
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn("bash", [join(inputs.scriptDir, "build-image.sh")], {
        env: { ...process.env, WORK: work, OUT: out, NODE_BIN: inputs.nodePath, AGENT: inputs.agentPath, AGENT_SNAPSHOT_ENTRY: snapshotEntryPath(inputs.agentPath), LC_ALL: "C" },
        stdio: ["ignore", "pipe", "pipe"],
        ...(options.signal && { signal: options.signal }),
      });
      const take = (chunk: Buffer) => {
        const text = chunk.toString();
        log += text;
        for (const line of text.split("\n")) if (line.startsWith("== ")) options.onStep?.(line.slice(3));
      };
      child.stdout.on("data", take);
      child.stderr.on("data", take);
      child.on("error", reject);
      child.on("close", (code) => {
        writeFileSync(logFile, log);
        if (code === 0) resolve();
        else reject(new ImageBuildError(`the image build failed (${lastLine(log)}); full log: ${logFile}`));
      });
    });
    const kernel = existsSync(join(out, "vmlinux")) ? "vmlinux" : "vmlinuz";
    const files = [kernel, "initramfs.cpio.gz", "rootfs.ext4"];
    const hash = await hashFiles(files.map((f) => join(out, f)));
    const id = `v${IMAGE_FORMAT}-${hash.slice(0, 12)}`;
    const dir = join(root, id);
    const image: GuestImage = {
      id,
      dir,
      format: IMAGE_FORMAT,
      kernel: join(dir, kernel),
      initrd: join(dir, "initramfs.cpio.gz"),
      rootfs: join(dir, "rootfs.ext4"),
      kernelRelease: readFileSync(join(out, "KERNEL_RELEASE"), "utf8").trim(),
      inputs: inputsKey(inputs),
      createdAt: new Date().toISOString(),
      bytes: files.reduce((n, f) => n + statSync(join(out, f)).size, 0),
    };
    writeFileSync(join(out, "manifest.json"), JSON.stringify(image, null, 2));
    rmSync(dir, { recursive: true, force: true });
    renameSync(out, dir);
    return image;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function lastLine(text: string): string {
  return text.trim().split("\n").filter(Boolean).pop() ?? "no output";
}
