// Every backend, for real: the guest agent's whole protocol through a real sandbox, and the
// host left clean after each.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isAlive } from "../../actors/sandbox/host-process.ts";
import type { SandboxRecord } from "../../actors/sandbox/sandbox-driver.ts";
import { createDrivers } from "../../src/runtime.ts";
import { backendsUnderTest, driver, env, limits, sandboxId, withSandbox } from "../support/backends.ts";

describe.each(backendsUnderTest())("%s backend", (backend) => {
  it("streams output, passes stdin, env and cwd, and returns the exit code", async () => {
    await withSandbox(backend, async (sandbox) => {
      const out: string[] = [];
      const exit = await sandbox.channel.exec(
        {
          argv: ["sh", "-c", 'pwd; echo "$GREETING"; cat; echo oops >&2; exit 7'],
          cwd: "/tmp",
          env: { GREETING: "hello", PATH: "/usr/bin:/bin" },
          stdin: Buffer.from("from stdin\n").toString("base64"),
        },
        (stream, data) => out.push(`${stream}:${data}`),
      );
      expect(exit).toMatchObject({ code: 7, signal: null, timedOut: false, truncated: false });
      expect(
        out
          .filter((o) => o.startsWith("stdout"))
          .join("")
          .replace(/stdout:/g, ""),
      ).toBe("/tmp\nhello\nfrom stdin\n");
      expect(out.filter((o) => o.startsWith("stderr"))).toEqual(["stderr:oops\n"]);
    });
  });

  it("reads, writes, lists and stats files inside the sandbox only", async () => {
    await withSandbox(backend, async (sandbox) => {
      await sandbox.channel.writeFile("/tmp/note.txt", Buffer.from("written by the host"), 0o600);
      expect((await sandbox.channel.readFile("/tmp/note.txt")).toString()).toBe("written by the host");
      expect(await sandbox.channel.stat("/tmp/note.txt")).toMatchObject({ name: "note.txt", kind: "file", size: 19, mode: 0o600 });
      expect((await sandbox.channel.list("/tmp")).map((e) => e.name)).toContain("note.txt");
      await expect(sandbox.channel.readFile("/tmp/missing")).rejects.toMatchObject({ code: "ENOENT" });
      // The root is a writable tmpfs; the runtime under it is read-only.
      await expect(sandbox.channel.writeFile("/usr/bin/evil", Buffer.from("x"))).rejects.toMatchObject({ code: expect.stringMatching(/EROFS|EACCES|EPERM/) });
    });
  });

  it("kills a command at its timeout, cuts a flood at the output cap, and names a missing command", async () => {
    await withSandbox(backend, async (sandbox) => {
      const slow = await sandbox.channel.exec({ argv: ["sleep", "30"], timeoutMs: 300 });
      expect(slow).toMatchObject({ timedOut: true, signal: "SIGTERM" });

      let received = 0;
      const flood = await sandbox.channel.exec({ argv: ["yes"], outputCapBytes: 100_000 }, (_, d) => (received += d.length));
      expect(flood).toMatchObject({ truncated: true, outputBytes: 100_000 });
      expect(received).toBe(100_000);

      await expect(sandbox.channel.exec({ argv: ["no-such-command"] })).rejects.toMatchObject({
        code: "ENOENT",
        message: expect.stringMatching(/command not found in the sandbox: no-such-command/),
      });
      // The sandbox is still usable after all of that.
      expect(await sandbox.channel.exec({ argv: ["true"] })).toMatchObject({ code: 0 });
    });
  });

  it(`runs on ${backend === "gvisor" ? "gVisor's own kernel" : "the host kernel, in namespaces"}`, async () => {
    await withSandbox(backend, async (sandbox) => {
      if (backend === "gvisor") expect(sandbox.hello.kernel).not.toBe(release());
      else expect(sandbox.hello.kernel).toBe(release());
      expect(sandbox.isolation).toMatch(backend === "gvisor" ? /^gvisor \(runsc .*platform (systrap|ptrace)\)/ : /^namespace \(bubblewrap\)/);
    });
  });

  it("fails the command in flight with a clear error when the sandbox dies", async () => {
    await withSandbox(backend, async (sandbox) => {
      const running = sandbox.channel.exec({ argv: ["sleep", "30"] });
      process.kill(-sandbox.record.process!.pid, "SIGKILL");
      await expect(running).rejects.toMatchObject({ code: "EPIPE" });
      expect(await sandbox.exited).toMatchObject({ signal: "SIGKILL" });
    });
  });

  it("leaves no process, directory, cgroup or record behind", async () => {
    let record: SandboxRecord | undefined;
    await withSandbox(backend, async (sandbox) => {
      record = sandbox.record;
      expect(isAlive(record.process!)).toBe(true);
      expect(existsSync(record.workDir)).toBe(true);
      await sandbox.channel.exec({ argv: ["sh", "-c", "sleep 30 & sleep 30 & echo started"] });
    });
    expect(isAlive(record!.process!)).toBe(false);
    expect(existsSync(record!.workDir)).toBe(false);
    for (const dir of record!.cgroup?.dirs ?? []) expect(existsSync(dir)).toBe(false);
    expect(env.store.read(record!.id)).toBeUndefined();
  });

  it.runIf(process.getuid?.() === 0)("as root, refuses a host path closed to other users with one line, and makes nothing", async () => {
    // Its sandbox reads host files under ids of its own, as a stranger: a 0700 directory is unreadable there.
    const closed = mkdtempSync(join(tmpdir(), "ironclaw-closed-"));
    try {
      const id = sandboxId("c");
      await expect(driver(backend).provision({ id, backend, limits, mounts: [{ source: closed, target: "/tmp/closed" }] })).rejects.toMatchObject({
        code: "EBACKEND",
        message: expect.stringContaining(`${closed} is closed to other users`),
      });
      expect(env.store.read(id)).toBeUndefined();
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });

  it("cleans up after a sandbox whose boot fails", async () => {
    // Sabotage: the guest agent cannot start when the runtime it is given does not exist.
    const faulty = createDrivers({ ...env, nodePath: "/nonexistent/node" })[backend]!;
    const record = await faulty.provision({ id: sandboxId("b"), backend, limits });
    try {
      await expect(faulty.boot(record)).rejects.toMatchObject({ code: "EBOOT", message: expect.stringMatching(/sandbox (exited before|failed to start) its guest agent/) });
    } finally {
      await driver(backend).destroy(record);
    }
    expect(existsSync(record.workDir)).toBe(false);
    expect(env.store.read(record.id)).toBeUndefined();
  });
});
