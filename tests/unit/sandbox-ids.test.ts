// The host id blocks sandboxes run under: the reserved range read from subuid/subgid files, one
// block per sandbox, stale locks of crashed processes reclaimed and live ones never.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { acquireIdBlock, BLOCK_SIZE, heldIdBlocks, isRangeProblem, releaseIdBlock, reservedRange, type IdRange } from "../../actors/sandbox/sandbox-ids.ts";
import { processStartTime } from "../../actors/sandbox/host-process.ts";

const dirs: string[] = [];
const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), "ironclaw-ids-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const me = { pid: process.pid, start: processStartTime(process.pid) ?? "" };
const dead = { pid: 2 ** 22 - 3, start: "1" };
const range: IdRange = { uidStart: 1_048_576, gidStart: 2_097_152, blocks: 3 };
/** A state directory holding the records named. */
function records(...ids: string[]): string {
  const dir = scratch();
  for (const id of ids) writeFileSync(join(dir, `${id}.json`), "{}");
  return dir;
}

describe("reservedRange", () => {
  it("reads user ironclaw's ranges, whole blocks only, and says how to fix a missing one", () => {
    const dir = scratch();
    const subuid = join(dir, "subuid");
    const subgid = join(dir, "subgid");
    writeFileSync(subuid, `alice:100000:65536\nironclaw:1048576:${3 * BLOCK_SIZE + 10}\n`);
    writeFileSync(subgid, `ironclaw:2097152:${2 * BLOCK_SIZE}\n`);
    expect(reservedRange({ subuid, subgid })).toEqual({ uidStart: 1_048_576, gidStart: 2_097_152, blocks: 2 });
    writeFileSync(subgid, "alice:100000:65536\n");
    const problem = reservedRange({ subuid, subgid });
    expect(isRangeProblem(problem) && problem.reason).toMatch(/no subordinate id range for user `ironclaw` in .*subgid: run scripts\/setup.sh/);
  });
});

describe("acquireIdBlock", () => {
  it("gives each sandbox its own block, refuses when all are held, and frees only the holder's", () => {
    const dir = scratch();
    const none = records();
    const blocks = ["a", "b", "c"].map((id) => acquireIdBlock(dir, range, id, me, none));
    expect(blocks.map((b) => b.uidBase)).toEqual([0, 1, 2].map((i) => range.uidStart + i * BLOCK_SIZE));
    expect(blocks.map((b) => b.gidBase)).toEqual([0, 1, 2].map((i) => range.gidStart + i * BLOCK_SIZE));
    expect(() => acquireIdBlock(dir, range, "d", me, none)).toThrow(/all 3 sandbox id blocks are in use/);
    releaseIdBlock(dir, blocks[1]!, "not-b"); // not the holder: nothing happens
    expect(heldIdBlocks(dir).sort()).toEqual([0, 1, 2]);
    releaseIdBlock(dir, blocks[1]!, "b");
    expect(acquireIdBlock(dir, range, "d", me, none).index).toBe(1);
  });

  it("reclaims a lock whose owner died before writing its sandbox's record, and never a live one", () => {
    const dir = scratch();
    // Each lock names the state dir of its sandbox's record: here one of them holds a record.
    acquireIdBlock(dir, range, "crashed", dead, records());
    acquireIdBlock(dir, range, "recorded", dead, records("recorded"));
    acquireIdBlock(dir, range, "alive", me, records());
    const taken = acquireIdBlock(dir, range, "new", me, records());
    expect(taken.index).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith(".stale"))).toEqual([]);
    expect(() => acquireIdBlock(dir, range, "one-more", me, records())).toThrow(/in use/);
  });
});
