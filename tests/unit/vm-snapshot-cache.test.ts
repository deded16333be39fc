// The VM snapshot cache both VM drivers keep: what counts as restorable, one maker per snapshot,
// files put in place only once complete, and temporary files of dead makers removed.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { VmSnapshotCache } from "../../actors/sandbox/vm-snapshot-cache.ts";

const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), "ironclaw-snapshots-"));
  chmodSync(dir, 0o700);
  return dir;
};
const write = (file: string) => writeFileSync(file, "state", { mode: 0o600 });

describe("the VM snapshot cache", () => {
  it("makes a snapshot once for every caller waiting on it, and puts its files in place only when it is complete, in order", async () => {
    const dir = scratch();
    const cache = new VmSnapshotCache(() => ({ dir, refreshMs: 60_000 }), ["mem", "snap"]);
    const snapshot = cache.snapshot("image-m256");
    let made = 0;
    let finish!: () => void;
    const make = async (tmp: readonly string[]) => {
      made++;
      expect(tmp).toEqual(snapshot.files.map((f) => `${f}.${process.pid}.tmp`));
      tmp.forEach(write);
      await new Promise<void>((resolve) => (finish = resolve));
    };
    const both = Promise.all([cache.ensure(snapshot, make), cache.ensure(snapshot, make)]);
    await new Promise((r) => setImmediate(r));
    expect(snapshot.files.some(existsSync)).toBe(false);
    finish();
    await both;
    expect(made).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(["image-m256.mem", "image-m256.snap"]);
    expect(cache.fresh(snapshot)).toBe(true);
    await cache.ensure(snapshot, make);
    expect(made).toBe(1);
  });

  it("leaves neither a snapshot nor its temporary files when making it fails", async () => {
    const dir = scratch();
    const cache = new VmSnapshotCache(() => ({ dir, refreshMs: 60_000 }), ["vmstate"]);
    const snapshot = cache.snapshot("image-m256-tcg");
    await expect(
      cache.ensure(snapshot, async ([tmp]) => {
        write(tmp!);
        throw new Error("migration failed");
      }),
    ).rejects.toThrow("migration failed");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("restores only what it wrote, as it left it, and not once it is older than the refresh interval", () => {
    const dir = scratch();
    const cache = new VmSnapshotCache(() => ({ dir, refreshMs: 60_000 }), ["mem", "snap"]);
    const snapshot = cache.snapshot("image-m256");
    write(snapshot.files[1]!);
    expect(cache.fresh(snapshot)).toBe(false); // the memory file is missing
    write(snapshot.files[0]!);
    expect(cache.fresh(snapshot)).toBe(true);
    expect(cache.fresh(cache.snapshot("image-m256", (process.getuid?.() ?? 0) + 1))).toBe(false); // someone else's
    chmodSync(snapshot.files[0]!, 0o644);
    expect(cache.fresh(snapshot)).toBe(false); // readable by others
    chmodSync(snapshot.files[0]!, 0o600);
    const old = new Date(Date.now() - 120_000);
    utimesSync(snapshot.files[1]!, old, old);
    expect(cache.fresh(snapshot)).toBe(false);
    cache.drop(snapshot);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("removes the temporary files of a maker that died, not a live maker's or anything else", async () => {
    const dir = scratch();
    const dead = spawnSync("true").pid;
    for (const name of [`a.vmstate.${dead}.tmp`, `b.vmstate.${process.pid}.tmp`, `notes.${dead}.tmp`]) write(join(dir, name));
    const cache = new VmSnapshotCache(() => ({ dir, refreshMs: 60_000 }), ["vmstate"]);
    await cache.ensure(cache.snapshot("c"), async ([tmp]) => write(tmp!));
    expect(readdirSync(dir).sort()).toEqual([`b.vmstate.${process.pid}.tmp`, "c.vmstate", `notes.${dead}.tmp`]);
  });
});
