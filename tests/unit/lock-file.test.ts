// The lock file the daemon and the audit log share: held by a live process named by pid and
// start time, broken when that process is gone — also when its pid now belongs to another one.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lockHolder, tryLock } from "../../actors/audit/lock-file.ts";
import { processStartTime } from "../../actors/sandbox/host-process.ts";

let dir: string;
let path: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ironclaw-lock-"));
  path = join(dir, "x.lock");
});
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** A process that takes the lock and holds it until killed; resolves once it holds it. */
function holderProcess(): Promise<ChildProcess> {
  const script = `
    import { tryLock } from ${JSON.stringify(join(import.meta.dirname, "..", "..", "actors", "audit", "lock-file.ts"))};
    const taken = tryLock(process.argv[1]);
    process.stdout.write("lock" in taken ? "held" : "refused");
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script, path], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve, reject) => child.stdout!.once("data", (d: Buffer) => (String(d) === "held" ? resolve(child) : reject(new Error(String(d))))));
}

const sleeper = () => {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  children.push(child);
  return child;
};

describe("tryLock", () => {
  it("takes a free lock, names this process in it, and releases it", () => {
    const taken = tryLock(path);
    if (!("lock" in taken)) throw new Error("not taken");
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ pid: process.pid, start: processStartTime(process.pid) });
    expect(tryLock(path)).toEqual({ heldBy: { pid: process.pid, start: processStartTime(process.pid) } });
    taken.lock.release();
    expect(existsSync(path)).toBe(false);
  });

  it("refuses while a live process holds it, and takes it once that process is gone", async () => {
    const holder = await holderProcess();
    expect(tryLock(path)).toEqual({ heldBy: { pid: holder.pid, start: processStartTime(holder.pid!) } });
    expect(lockHolder(path)?.pid).toBe(holder.pid);
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    holder.kill("SIGKILL");
    await exited;
    expect(lockHolder(path)).toBeNull();
    const taken = tryLock(path);
    expect("lock" in taken).toBe(true);
  });

  it("breaks a lock left by a process that has died", () => {
    const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);
    writeFileSync(path, JSON.stringify({ pid: dead, start: "1" }));
    expect(lockHolder(path)).toBeNull();
    expect("lock" in tryLock(path)).toBe(true);
  });

  it("breaks a lock whose pid now belongs to another process", () => {
    const other = sleeper();
    // The pid is alive, but it started at another time than the holder the lock names.
    writeFileSync(path, JSON.stringify({ pid: other.pid, start: `${Number(processStartTime(other.pid!)) - 1}` }));
    expect(lockHolder(path)).toBeNull();
    const taken = tryLock(path);
    expect("lock" in taken).toBe(true);
    expect(JSON.parse(readFileSync(path, "utf8")).pid).toBe(process.pid);
  });

  it("treats a lock its holder has not written yet as held, until it is too old to be one", () => {
    writeFileSync(path, "");
    expect(tryLock(path)).toEqual({ heldBy: null });
    const past = new Date(Date.now() - 60_000);
    utimesSync(path, past, past);
    expect("lock" in tryLock(path)).toBe(true);
  });

  it("excludes: four processes racing to take, release and take again never hold it at once", async () => {
    // Each increments a counter by read-then-write under the lock: a lost update means two held it.
    // (Breaking a lock that was released between failing to create it and looking at it removed
    // the next holder's lock: this lost thousands of updates.)
    const counter = join(dir, "counter");
    writeFileSync(counter, "0");
    const script = `
      import { readFileSync, writeFileSync } from "node:fs";
      import { tryLock } from ${JSON.stringify(join(import.meta.dirname, "..", "..", "actors", "audit", "lock-file.ts"))};
      for (let i = 0; i < 300; i++) {
        let taken;
        do taken = tryLock(process.argv[1]); while (!("lock" in taken));
        writeFileSync(process.argv[2], String(Number(readFileSync(process.argv[2], "utf8")) + 1));
        taken.lock.release();
      }
    `;
    const racer = () =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", script, path, counter], { stdio: ["ignore", "ignore", "inherit"] });
        children.push(child);
        child.on("close", resolve);
      });
    expect(await Promise.all([racer(), racer(), racer(), racer()])).toEqual([0, 0, 0, 0]);
    expect(readFileSync(counter, "utf8")).toBe("1200");
    expect(existsSync(path)).toBe(false);
  });

  it("releases only a lock it still holds", () => {
    const taken = tryLock(path);
    if (!("lock" in taken)) throw new Error("not taken");
    const other = sleeper();
    writeFileSync(path, JSON.stringify({ pid: other.pid, start: processStartTime(other.pid!) }));
    taken.lock.release();
    expect(existsSync(path)).toBe(true);
  });
});
