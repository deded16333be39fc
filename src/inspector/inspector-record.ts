// Where a running `ironclaw inspect` says it is, so that `run --inspect`, `exec --inspect` and
// the daemon report to it instead of each serving a page of their own. The record holds the
// token, so it lives in the private run directory and is readable by its owner only.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processStartTime } from "../../actors/sandbox/host-process.ts";
import { ensurePrivateDir } from "../../actors/sandbox/private-dir.ts";
import { runDir } from "../../core/paths.ts";

export interface InspectorRecord {
  readonly pid: number;
  /** The process's start time (/proc/PID/stat): a reused pid is not the inspector. */
  readonly start: string | null;
  readonly port: number;
  readonly token: string;
  readonly url: string;
}

export const inspectorRecordPath = () => join(runDir(), "inspector.json");

/**
 * The recorded inspector is still the process that wrote the record: same pid, same start time.
 * An inspector is always our own process, so one we may not signal (EPERM) is someone else's.
 */
const sameProcess = (record: InspectorRecord) => {
  try {
    process.kill(record.pid, 0);
  } catch {
    return false;
  }
  return record.start === null || processStartTime(record.pid) === record.start;
};

/** The running inspector, or null (none, or its process has gone). */
export function readInspectorRecord(): InspectorRecord | null {
  try {
    const record = JSON.parse(readFileSync(inspectorRecordPath(), "utf8")) as InspectorRecord;
    return typeof record.pid === "number" && typeof record.port === "number" && typeof record.token === "string" && sameProcess(record) ? record : null;
  } catch {
    return null;
  }
}

export function writeInspectorRecord(inspector: Omit<InspectorRecord, "start">): () => void {
  const record: InspectorRecord = { ...inspector, start: processStartTime(inspector.pid) };
  ensurePrivateDir(runDir(), "set IRONCLAW_RUN_DIR to a directory of your own");
  const path = inspectorRecordPath();
  writeFileSync(path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  return () => {
    // Only our own record: a second inspector may have replaced it.
    if (readInspectorRecord()?.pid === record.pid || readInspectorRecord() === null) rmSync(path, { force: true });
  };
}
