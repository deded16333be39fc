// The state directory's record of live sandboxes: one JSON file each, written before the
// resource it names exists and removed after the resource is gone. After a crash, whatever
// is still listed here is exactly what the next start must reap.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SandboxRecord } from "./sandbox-driver.ts";
import { processStartTime } from "./host-process.ts";

export class SandboxStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  write(record: SandboxRecord): void {
    // Write-then-rename: a crash mid-write must not leave a record the reaper cannot parse.
    // The daemon and CLI processes share this directory: each writes its own temporary file.
    const tmp = `${this.file(record.id)}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
    renameSync(tmp, this.file(record.id));
  }

  read(id: string): SandboxRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.file(id), "utf8")) as SandboxRecord;
    } catch {
      return undefined;
    }
  }

  remove(id: string): void {
    rmSync(this.file(id), { force: true });
  }

  list(): SandboxRecord[] {
    const records: SandboxRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      const tmp = /\.json\.(\d+)\.tmp$/.exec(name);
      // Left by a process killed between write and rename; a live writer's is left alone.
      if (tmp && processStartTime(Number(tmp[1])) === null) rmSync(join(this.dir, name), { force: true });
      if (!name.endsWith(".json")) continue;
      const record = this.read(name.slice(0, -".json".length));
      if (record) records.push(record);
      else rmSync(join(this.dir, name), { force: true }); // unreadable: nothing can act on it
    }
    return records;
  }
}
