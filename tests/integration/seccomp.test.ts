// The compiled seccomp filter in real bubblewrap on this kernel: the refused calls answer EPERM
// from inside (and, run without the filter, something else, so the EPERM is the filter's), and
// ordinary work (node, python, shells, git, a compiler) still runs under it.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findBwrap } from "../../actors/sandbox/bubblewrap.driver.ts";
import { seccompProgram } from "../../actors/sandbox/seccomp-bpf.ts";
import { SYSCALL_NUMBERS } from "../../actors/sandbox/syscall-numbers.ts";

const bwrap = findBwrap();
if (!bwrap && process.env.CI) throw new Error("bubblewrap is not installed; run the README's set-up");
if (!bwrap) console.warn("skipping the seccomp integration tests: bubblewrap (bwrap) is not installed");
const arch = process.arch === "x64" || process.arch === "arm64" ? process.arch : null;
if (!arch) console.warn(`skipping the seccomp integration tests: no filter for ${process.arch}`);

const PYTHON = "/usr/bin/python3";
const pinnedNode = fileURLToPath(new URL("../../node_modules/node/bin/node", import.meta.url));
const NODE = existsSync(pinnedNode) ? pinnedNode : process.execPath;
const SANDBOX_NODE = "/opt/node/bin/node";

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs argv in a bubblewrap sandbox like the namespace backend's, with the filter on fd 3 unless told not to. */
function sandboxed(argv: readonly string[], options: { seccomp?: boolean } = {}): Promise<Outcome> {
  const seccomp = options.seccomp ?? true;
  const args = [
    "--unshare-all",
    "--unshare-user",
    "--die-with-parent",
    "--new-session",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--symlink",
    "usr/bin",
    "/bin",
    // as the namespace backend does: cc and friends are links through it
    "--ro-bind-try",
    "/etc/alternatives",
    "/etc/alternatives",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--tmpfs",
    "/dev/shm",
    "--ro-bind",
    NODE,
    SANDBOX_NODE,
    ...(seccomp ? ["--seccomp", "3"] : []),
    "--",
    ...argv,
  ];
  const env = { PATH: "/usr/bin:/bin", HOME: "/tmp", LANG: "C.UTF-8", TMPDIR: "/tmp" };
  const child = spawn(bwrap!, args, { env, stdio: ["ignore", "pipe", "pipe", seccomp ? "pipe" : "ignore"] });
  // bwrap reads the program until EOF, so end the pipe after writing it.
  if (seccomp) (child.stdio[3] as Writable).end(seccompProgram());
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d));
  child.stderr?.on("data", (d: Buffer) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function ok(argv: readonly string[]): Promise<string> {
  const out = await sandboxed(argv);
  expect(out, `${argv.join(" ")}\n${out.stderr}`).toMatchObject({ code: 0, signal: null });
  return out.stdout;
}

// Each probe's arguments are chosen so the kernel itself would answer something other than
// EPERM (an unknown operation, a NULL pointer, an invalid flag): under the filter the only
// EPERM can be the filter's. The raw calls go through libc's syscall(), so no wrapper decides.
const PROBES = String.raw`
import ctypes, errno, json, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
nr = json.loads(sys.argv[1])
def call(name, *args, number=None):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr[name] if number is None else number), *[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
out = {
    "keyctl": call("keyctl", 9999, 0, 0),
    "bpf": call("bpf", 9999, 0, 0),
    "io_uring_setup": call("io_uring_setup", 1, 0),
    "userfaultfd": call("userfaultfd", 0x101),
    "perf_event_open": call("perf_event_open", 0, 0, -1, -1, 0),
    "ptrace": call("ptrace", 1, 1, 0, 0),
    "socket(AF_VSOCK)": call("socket", 40, 1, 0),
    "clone3": call("clone3", 0, 0),
    "socket(AF_UNIX)": call("socket", 1, 1, 0),
    "getpid": call("getpid"),
}
if len(sys.argv) > 2:
    out["x32 getpid"] = call("getpid", number=0x40000000 | nr["getpid"])
out["unshare(CLONE_NEWUSER)"] = call("unshare", 0x10000000)
print(json.dumps(out))
`;

async function probe(seccomp: boolean): Promise<Record<string, string>> {
  const numbers = JSON.stringify(SYSCALL_NUMBERS[arch!]);
  const out = await sandboxed([PYTHON, "-c", PROBES, numbers, ...(arch === "x64" ? ["x32"] : [])], { seccomp });
  expect(out, out.stderr).toMatchObject({ code: 0, signal: null });
  return JSON.parse(out.stdout) as Record<string, string>;
}

describe.skipIf(!bwrap || !arch)("the seccomp filter in bubblewrap", () => {
  it("is loaded by bwrap and refuses the dangerous calls with EPERM, clone3 with ENOSYS", async () => {
    const results = await probe(true);
    expect(results).toEqual({
      keyctl: "EPERM",
      bpf: "EPERM",
      io_uring_setup: "EPERM",
      userfaultfd: "EPERM",
      perf_event_open: "EPERM",
      ptrace: "EPERM",
      "socket(AF_VSOCK)": "EPERM",
      clone3: "ENOSYS",
      "socket(AF_UNIX)": "ok",
      getpid: "ok",
      ...(arch === "x64" ? { "x32 getpid": "EPERM" } : {}),
      "unshare(CLONE_NEWUSER)": "EPERM",
    });
  });

  it("is what refuses them: without it the same calls get other answers", async () => {
    const results = await probe(false);
    console.info(`without the filter: ${JSON.stringify(results)}`);
    // bpf is left out: kernels before 6.5 answer EPERM to any bpf() when unprivileged BPF is off.
    for (const name of ["keyctl", "io_uring_setup", "userfaultfd", "perf_event_open", "ptrace", "socket(AF_VSOCK)", "unshare(CLONE_NEWUSER)"]) {
      expect(`${name}: ${results[name]}`).not.toBe(`${name}: EPERM`);
    }
    expect(results.clone3).not.toBe("ENOSYS");
  });

  it("stops `unshare -U` from making a nested user namespace", async () => {
    const out = await sandboxed(["unshare", "-U", "true"]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/Operation not permitted/);
    // The same command works without the filter, so the refusal above is the filter's.
    expect(await sandboxed(["unshare", "-U", "true"], { seccomp: false })).toMatchObject({ code: 0 });
  });

  it("runs node with a worker thread, a forked child, a spawned shell and file I/O", async () => {
    const script = `
      const { Worker } = require("node:worker_threads");
      const { fork, execFileSync } = require("node:child_process");
      const fs = require("node:fs");
      fs.writeFileSync("/tmp/child.js", "process.send('forked'); ");
      new Worker("require('node:worker_threads').parentPort.postMessage(6 * 7)", { eval: true }).on("message", async (n) => {
        const child = fork("/tmp/child.js");
        child.on("message", async (m) => {
          await fs.promises.writeFile("/tmp/data", "x".repeat(100000));
          const size = (await fs.promises.readFile("/tmp/data")).length;
          const shell = execFileSync("sh", ["-c", "echo spawned"]).toString().trim();
          console.log([n, m, size, shell].join(" "));
        });
      });`;
    expect(await ok([SANDBOX_NODE, "-e", script])).toBe("42 forked 100000 spawned\n");
  });

  it("runs python threads, a thread pool and a subprocess", async () => {
    const script = [
      "import threading, subprocess, concurrent.futures",
      "seen = []",
      "ts = [threading.Thread(target=seen.append, args=(i,)) for i in range(8)]",
      "[t.start() for t in ts]; [t.join() for t in ts]",
      "with concurrent.futures.ThreadPoolExecutor(4) as pool: squares = sum(pool.map(lambda x: x * x, range(10)))",
      "sub = subprocess.run(['echo', 'sub'], capture_output=True, text=True).stdout.strip()",
      "print(len(seen), squares, sub)",
    ].join("\n");
    expect(await ok([PYTHON, "-c", script])).toBe("8 285 sub\n");
  });

  it("runs shell pipes, fork and exec", async () => {
    expect(await ok(["sh", "-c", "seq 1 1000 | sort -rn | head -n 1; (exit 3); echo $?; /bin/true && echo exec"])).toBe("1000\n3\nexec\n");
  });

  it("writes /dev/shm, directly and through POSIX shared memory", async () => {
    expect(await ok(["sh", "-c", "echo shm > /dev/shm/f && cat /dev/shm/f"])).toBe("shm\n");
    const script = "from multiprocessing import shared_memory as s\nm = s.SharedMemory(create=True, size=4096)\nm.buf[0] = 7\nprint(m.buf[0])\nm.close(); m.unlink()";
    expect(await ok([PYTHON, "-c", script])).toBe("7\n");
  });

  it("runs git init and a commit", async () => {
    const script = "cd /tmp && git init -q repo && cd repo && echo hi > f && git add f && git -c user.name=t -c user.email=t@example.com commit -qm first && git log --format=%s";
    expect(await ok(["sh", "-c", script])).toBe("first\n");
  });

  it("compiles and runs a C program", async (ctx) => {
    if (!existsSync("/usr/bin/cc")) {
      console.warn("skipping the compiler check: no C compiler at /usr/bin/cc (apt-get install gcc)");
      ctx.skip();
    }
    const script = `cd /tmp && printf '#include <stdio.h>\\n#include <pthread.h>\\nstatic void *f(void *a) { return a; }\\nint main(void) { pthread_t t; pthread_create(&t, 0, f, 0); pthread_join(t, 0); puts("hello"); return 0; }\\n' > h.c && cc -pthread -o h h.c && ./h`;
    expect(await ok(["sh", "-c", script])).toBe("hello\n");
  });
});
