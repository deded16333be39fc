// `ironclaw image build | ls | rm`: the micro-VM guest image in its versioned cache.
import { oneLine, safeJson } from "../../core/terminal-text.ts";
import { buildImage, findImage, imageInputs, imagesDir, listImages, removeImage } from "../../actors/sandbox/guest-image.ts";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ExitCode } from "../../core/exit-codes.ts";
import { loadSettings } from "../config/settings.ts";
import { guestAgentPath } from "../../core/paths.ts";
import { ImageBuildError, UsageError } from "../../core/errors.ts";

const inputs = () => imageInputs({ nodePath: process.execPath, agentPath: guestAgentPath() });

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

export async function runImageBuild(opts: { force: boolean; json: boolean }): Promise<number> {
  const started = performance.now();
  const existing = findImage(inputs());
  const progress = !opts.json && process.stderr.isTTY;
  let steps = 0;
  try {
    const image = await buildImage(inputs(), {
      force: opts.force,
      onStep: (step) => {
        steps++;
        if (!opts.json) process.stderr.write(progress ? `\r\x1b[2K[${steps}/5] ${step}` : `ironclaw: image build: ${step}\n`);
      },
    });
    if (progress) process.stderr.write("\r\x1b[2K");
    const reused = existing !== null && !opts.force;
    if (opts.json) process.stdout.write(`${safeJson({ ...image, reused, seconds: Math.round((performance.now() - started) / 100) / 10 })}\n`);
    else process.stdout.write(`${reused ? "up to date" : "built"}: ${image.id} (guest kernel ${image.kernelRelease}, ${mib(image.bytes)}) in ${image.dir}\n`);
    const older = listImages().filter((i) => i.id !== image.id);
    if (older.length && !opts.json) {
      const bytes = older.reduce((sum, i) => sum + i.bytes, 0);
      process.stderr.write(`ironclaw: ${older.length} older image(s) use ${mib(bytes)}; remove them with \`ironclaw image prune\`\n`);
    }
    return ExitCode.ok;
  } catch (err) {
    if (progress) process.stderr.write("\n");
    if (err instanceof ImageBuildError) {
      process.stderr.write(`ironclaw: ${oneLine(err.message)}\n`);
      return ExitCode.sandboxFailure;
    }
    throw err;
  }
}

export function runImageLs(opts: { json: boolean }): number {
  const images = listImages();
  const current = findImage(inputs())?.id ?? null;
  if (opts.json) {
    process.stdout.write(`${safeJson({ dir: imagesDir(), current, images })}\n`);
    return ExitCode.ok;
  }
  if (!images.length) process.stdout.write(`no guest images in ${imagesDir()} (build one with \`ironclaw image build\`)\n`);
  for (const i of images) {
    process.stdout.write(`${i.id === current ? "*" : " "} ${i.id}  kernel ${i.kernelRelease}  ${mib(i.bytes).padStart(8)}  ${i.createdAt}\n`);
  }
  return ExitCode.ok;
}

/** Removes an image and the VM snapshots made from it (they are useless without it). */
function removeImageAndSnapshots(id: string): boolean {
  if (!removeImage(id)) return false;
  let dir: string;
  try {
    dir = loadSettings().pool.snapshotPath;
  } catch {
    return true; // a broken config must not stop a removal; its snapshots stay until fixed
  }
  if (!existsSync(dir)) return true;
  for (const name of readdirSync(dir)) if (name.startsWith(`${id}-`)) rmSync(join(dir, name), { force: true });
  return true;
}

/** Every image but the one this version of IronClaw boots: what earlier versions left. */
export function runImagePrune(opts: { json: boolean }): number {
  const current = findImage(inputs())?.id ?? null;
  const stale = listImages().filter((i) => i.id !== current);
  for (const i of stale) removeImageAndSnapshots(i.id);
  const freed = stale.reduce((sum, i) => sum + i.bytes, 0);
  if (opts.json) process.stdout.write(`${safeJson({ removed: stale.map((i) => i.id), kept: current, freedBytes: freed })}\n`);
  else process.stdout.write(stale.length ? `removed ${stale.length} image(s), ${mib(freed)} freed${current ? `; kept ${current}` : ""}\n` : "nothing to prune\n");
  return ExitCode.ok;
}

export function runImageRm(ids: string[], opts: { all: boolean; json: boolean }): number {
  const targets = opts.all ? listImages().map((i) => i.id) : ids;
  if (!targets.length) throw new UsageError("image rm needs an image id (see `ironclaw image ls`) or --all");
  const missing = targets.filter((id) => !removeImageAndSnapshots(id));
  if (opts.json) process.stdout.write(`${safeJson({ removed: targets.filter((t) => !missing.includes(t)), missing })}\n`);
  else for (const id of missing) process.stderr.write(`ironclaw: no image ${id} (see \`ironclaw image ls\`)\n`);
  return missing.length ? ExitCode.usage : ExitCode.ok;
}
