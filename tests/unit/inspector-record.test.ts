// The running inspector's record: found while its process lives, not once the pid is another
// process's (a different start time), and removed by its own writer only.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectorRecordPath, readInspectorRecord, writeInspectorRecord } from "../../src/inspector/inspector-record.ts";

const saved = process.env.IRONCLAW_RUN_DIR;
const dir = mkdtempSync(join(tmpdir(), "ironclaw-record-"));
beforeAll(() => (process.env.IRONCLAW_RUN_DIR = join(dir, "run")));
afterAll(() => {
  process.env.IRONCLAW_RUN_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe("inspector record", () => {
  it("is found while its writer lives, owner-only, and removed by it", () => {
    const remove = writeInspectorRecord({ pid: process.pid, port: 1234, token: "t", url: "http://127.0.0.1:1234/?token=t" });
    expect(readInspectorRecord()).toMatchObject({ pid: process.pid, port: 1234, token: "t" });
    expect(readFileSync(inspectorRecordPath(), "utf8")).toContain('"start"');
    remove();
    expect(existsSync(inspectorRecordPath())).toBe(false);
  });

  it("is not trusted when the pid now belongs to another process", () => {
    writeInspectorRecord({ pid: process.pid, port: 1234, token: "t", url: "u" });
    const record = JSON.parse(readFileSync(inspectorRecordPath(), "utf8")) as Record<string, unknown>;
    writeFileSync(inspectorRecordPath(), JSON.stringify({ ...record, start: "1" }));
    expect(readInspectorRecord()).toBeNull();
    writeFileSync(inspectorRecordPath(), JSON.stringify({ ...record, pid: 1 })); // init: alive, not ours to signal as a user, and not the writer
    expect(readInspectorRecord()).toBeNull();
  });
});
