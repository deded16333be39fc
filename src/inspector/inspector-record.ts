// Where a running `ironclaw inspect` says it is, so that `run --inspect`, `exec --inspect` and
// the daemon report to it instead of each serving a page of their own. The record holds the
// token, so it lives in the private run directory and is readable by its owner only.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir } from "../../actors/private-dir.ts";
import { runDir } from "../paths.ts";

export interface InspectorRecord {
  readonly pid: number;
  readonly port: number;
  readonly token: string;
  readonly url: string;
}

export const inspectorRecordPath = () => join(runDir(), "inspector.json");

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** The running inspector, or null (none, or its process has gone). */
export function readInspectorRecord(): InspectorRecord | null {
  try {
    const record = JSON.parse(readFileSync(inspectorRecordPath(), "utf8")) as InspectorRecord;
    return typeof record.pid === "number" && typeof record.port === "number" && typeof record.token === "string" && alive(record.pid) ? record : null;
  } catch {
    return null;
  }
}

export function writeInspectorRecord(record: InspectorRecord): () => void {
  ensurePrivateDir(runDir(), "the inspector's record");
  const path = inspectorRecordPath();
  writeFileSync(path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  return () => {
    // Only our own record: a second inspector may have replaced it.
    if (readInspectorRecord()?.pid === record.pid || readInspectorRecord() === null) rmSync(path, { force: true });
  };
}
