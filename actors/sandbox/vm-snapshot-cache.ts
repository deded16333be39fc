// The VM snapshots later boots restore, as the qemu and firecracker drivers keep them: files in
// the snapshot directory (settings: pool.snapshotPath), named for the image, the guest's memory
// and whatever else a restore depends on. A snapshot is restored only when every file is there
// as IronClaw left it and it is younger than the refresh interval; one is made at a time per
// snapshot (slots warming together wait for the same one), written to temporary files that
// replace the snapshot's only once complete.
import { lstatSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { processStartTime } from "./host-process.ts";
import { ensurePrivateDir } from "./private-dir.ts";

export interface SnapshotSettings {
  readonly dir: string;
  /** How old a snapshot may get before it is made anew. */
  readonly refreshMs: number;
}

export interface VmSnapshot {
  /** Its files, replaced in this order when it is made: the last one completes it, and its age is the snapshot's. */
  readonly files: readonly string[];
  /** The user the VMM wrote them as (a jailed Firecracker's), or IronClaw's own. */
  readonly owner: number | undefined;
}

export class VmSnapshotCache {
  private readonly settings: () => SnapshotSettings;
  private readonly extensions: readonly string[];
  private readonly making = new Map<string, Promise<void>>();

  /** `extensions`: the files a snapshot of this driver is saved in, in the order they are written. */
  constructor(settings: () => SnapshotSettings, extensions: readonly string[]) {
    this.settings = settings;
    this.extensions = extensions;
  }

  /** The snapshot called `name`. */
  snapshot(name: string, owner: number | undefined = process.getuid?.()): VmSnapshot {
    const base = join(this.settings().dir, name);
    return { files: this.extensions.map((ext) => `${base}.${ext}`), owner };
  }

  /** Whether it may be restored. A VMM runs whatever a snapshot says: restore only what we wrote, as we left it. */
  fresh(snapshot: VmSnapshot): boolean {
    try {
      let age = 0;
      for (const file of snapshot.files) {
        const stat = lstatSync(file);
        if (!stat.isFile() || stat.uid !== snapshot.owner || stat.mode & 0o077) return false;
        age = Date.now() - stat.mtimeMs;
      }
      return age < this.settings().refreshMs;
    } catch {
      return false;
    }
  }

  /** Removes it: a snapshot that does not restore (the VMM changed under it, say) is dropped, not retried. */
  drop(snapshot: VmSnapshot): void {
    for (const file of snapshot.files) rmSync(file, { force: true });
  }

  /** Makes the snapshot unless a fresh one exists: `make` writes the temporary files it is given, in the snapshot's order. */
  async ensure(snapshot: VmSnapshot, make: (tmp: readonly string[]) => Promise<void>): Promise<void> {
    if (this.fresh(snapshot)) return;
    const key = snapshot.files.at(-1)!;
    let making = this.making.get(key);
    if (!making) {
      making = this.make(snapshot, make).finally(() => this.making.delete(key));
      this.making.set(key, making);
    }
    await making;
  }

  private async make(snapshot: VmSnapshot, make: (tmp: readonly string[]) => Promise<void>): Promise<void> {
    const dir = dirname(snapshot.files[0]!);
    ensurePrivateDir(dir, "set IRONCLAW_SNAPSHOT_PATH to a directory of your own");
    this.removeAbandoned(dir);
    const tmp = snapshot.files.map((file) => `${file}.${process.pid}.tmp`);
    try {
      await make(tmp);
      tmp.forEach((file, i) => renameSync(file, snapshot.files[i]!));
    } finally {
      for (const file of tmp) rmSync(file, { force: true });
    }
  }

  /** `<file>.<pid>.tmp` of a snapshot whose maker was killed mid-way: nobody will finish it. */
  private removeAbandoned(dir: string): void {
    const temporary = new RegExp(`\\.(?:${this.extensions.join("|")})\\.(\\d+)\\.tmp$`);
    for (const name of readdirSync(dir)) {
      const maker = temporary.exec(name)?.[1];
      if (maker && processStartTime(Number(maker)) === null) rmSync(join(dir, name), { force: true });
    }
  }
}
