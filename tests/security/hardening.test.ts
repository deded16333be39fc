// Attacks on the sandbox's hardening (issue 11), through `ironclaw exec` as a user runs it, from
// inside the sandbox and from the host. Every probe is harmless: writability is tested with
// access(2) (find -writable, test -w), never by writing a host sysctl; what a command writes
// stays in its own throwaway tmpfs. One sandbox per backend runs every inside probe as one
// script (its output is `key=value` and `section: line` lines), one more runs ordinary work.
//
// The memory and process limits under the hardening are tests/security/isolation.test.ts's
// (a memory hog and a fork bomb on every backend, through the same drivers).
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BackendName } from "../../core/backend.ts";
import { backendsUnderTest } from "../support/backends.ts";
import { cliHarness, type Run } from "../support/cli.ts";

const { BIN, env, until, records, commandRunning } = cliHarness("hardening");

const backends = backendsUnderTest();
const asRoot = process.getuid?.() === 0;
const x86_64 = process.arch === "x64";
const KEYCTL = "/usr/bin/keyctl";
const hasKeyctl = existsSync(KEYCTL);
if (!x86_64) console.warn(`hardening: skipping the raw system call probes: their numbers are x86_64's and this is ${process.arch}`);
if (!hasKeyctl) console.warn(`hardening: skipping the keyring probe: ${KEYCTL} (keyutils) is not installed on the host`);
if (!asRoot) console.warn("hardening: skipping the namespace backend's own-ids probes: they hold when IronClaw runs as root");

/** The marker command the host looks for while the namespace sandbox is up. */
const MARKER = "sleep 30.1234";
const KEY_NAME = `ironclaw-test-${Math.random().toString(36).slice(2, 12)}`;
/** Files that only root on the host may read, or that describe the host's kernel and memory. */
const MASKED = ["/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/timer_list", "/proc/sched_debug", "/proc/kpagecount", "/proc/kpageflags", "/proc/kpagecgroup"];
/** Mounted read-only in a namespace sandbox, where the host kernel has them. */
const READ_ONLY = ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"];

// System calls a namespace sandbox refuses, with arguments chosen so that without the filter the
// kernel would answer something other than EPERM (a descriptor, EINVAL, EACCES, …): EPERM is then
// the filter's answer. Each runs in a forked child, so that a call that succeeds (an unshare, a
// keyring joined) cannot change what the next probe sees.
const SYSCALL_PROBE = String.raw`
import ctypes, errno, os, platform, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
agent = int(sys.argv[1])
def name(e): return errno.errorcode.get(e, str(e))
def say(line): print(line, flush=True)
# Opening is where the kernel checks access to another process's memory and environment
# (reading mem at offset 0 would fail anyway: nothing is mapped there).
for f in ("mem", "environ"):
    try:
        with open("/proc/%d/%s" % (agent, f), "rb") as h:
            if f == "environ":
                h.read(1)
        say("agent-%s=OK" % f)
    except OSError as e:
        say("agent-%s=%s" % (f, name(e.errno)))
def call(label, nr, *args):
    pid = os.fork()
    if pid == 0:
        ctypes.set_errno(0)
        r = libc.syscall(ctypes.c_long(nr), *args)
        say("sys:%s=%s" % (label, "OK" if r >= 0 else name(ctypes.get_errno())))
        if label == "ptrace_attach" and r >= 0:
            # It got through: let the agent go again (PTRACE_DETACH once it has stopped).
            os.waitpid(agent, 0x40000000)
            libc.syscall(ctypes.c_long(nr), ctypes.c_long(17), ctypes.c_long(agent), None, None)
        os._exit(0)
    os.waitpid(pid, 0)
if platform.machine() != "x86_64":
    say("sys:skipped=" + platform.machine())
else:
    io_uring_params = ctypes.create_string_buffer(120)
    perf_attr = (ctypes.c_uint32 * 32)()
    perf_attr[0] = 1  # PERF_TYPE_SOFTWARE
    perf_attr[1] = 128  # attr size
    perf_attr[2] = 9  # PERF_COUNT_SW_DUMMY
    perf_attr[10] = 1 | (1 << 5) | (1 << 6)  # disabled, exclude_kernel, exclude_hv
    call("ptrace_attach", 101, ctypes.c_long(16), ctypes.c_long(agent), None, None)
    call("keyctl", 250, ctypes.c_long(0), ctypes.c_long(-3), ctypes.c_long(0))  # KEYCTL_GET_KEYRING_ID @s
    call("io_uring_setup", 425, ctypes.c_long(1), io_uring_params)
    call("userfaultfd", 323, ctypes.c_long(0o2000000 | 1))  # O_CLOEXEC | UFFD_USER_MODE_ONLY
    call("bpf", 321, ctypes.c_long(0xffff), None, ctypes.c_long(0))  # no such command: EINVAL unfiltered
    call("perf_event_open", 298, perf_attr, ctypes.c_long(0), ctypes.c_long(-1), ctypes.c_long(-1), ctypes.c_long(0))
    call("unshare_newuser", 272, ctypes.c_long(0x10000000))
try:
    socket.socket(40, socket.SOCK_STREAM).close()  # AF_VSOCK
    say("sys:vsock=OK")
except OSError as e:
    say("sys:vsock=" + name(e.errno))
`;

/** Every inside probe, in one script; the namespace sandbox then waits as MARKER for the host's look. */
function probeScript(waitForHost: boolean): string {
  return String.raw`
P=$PPID
echo "agent-cmdline=$(tr '\0' ' ' < /proc/$P/cmdline)"
echo "agent-uids=$(awk '/^Uid:/{print $2, $3, $4}' /proc/$P/status)"
echo "agent-seccomp=$(awk '/^Seccomp:/{print $2}' /proc/$P/status)"
sed 's/^/uid-map: /' /proc/self/uid_map
sed 's/^/gid-map: /' /proc/self/gid_map
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status | sed 's/:[[:space:]]*/=/'
echo "sysctl-files=$(find /proc/sys -type f 2>/dev/null | wc -l)"
find /proc/sys -type f -writable 2>/dev/null | sed 's/^/sysctl-writable: /'
if [ -e /proc/sysrq-trigger ]; then if [ -w /proc/sysrq-trigger ]; then echo sysrq=writable; else echo sysrq=refused; fi; else echo sysrq=absent; fi
for f in ${MASKED.join(" ")}; do
  if [ -e "$f" ]; then echo "masked:$f=$(head -c 4096 "$f" 2>/dev/null | wc -c)"; else echo "masked:$f=absent"; fi
done
sed 's/^/mountinfo: /' /proc/self/mountinfo
sed 's/^/proc-keys: /' /proc/keys 2>/dev/null
keyctl show @s > /tmp/keyring 2>&1; echo "keyring-rc=$?"
sed 's/^/keyring: /' /tmp/keyring
unshare -U true 2>/dev/null; echo "unshare-U=$?"
kill -0 $P 2>/dev/null; echo "kill-agent=$?"
setpriv --reuid=999 --regid=999 --clear-groups true 2>/dev/null; echo "setpriv-999=$?"
# Writability only (access(2)): planting a real /etc/ld.so.preload or /lib64 would break the probe itself.
test -w /etc; echo "plant-preload=$?"
test -w /; echo "swap-loader-link=$?"
cat > /tmp/probe.py <<'PY'
${SYSCALL_PROBE}
PY
python3 /tmp/probe.py $P
echo made > /tmp/hardening-owned; echo "owned-uid=$(stat -c %u /tmp/hardening-owned)"
echo probe-done
${waitForHost ? `exec ${MARKER}` : ""}
`;
}

/** `key=value` and `section: line` lines of a probe's output. */
function parse(stdout: string) {
  const lines = stdout.split("\n");
  return {
    value(key: string): string | undefined {
      const line = lines.find((l) => l.startsWith(`${key}=`));
      return line?.slice(key.length + 1);
    },
    section(name: string): string[] {
      return lines.filter((l) => l.startsWith(`${name}: `)).map((l) => l.slice(name.length + 2));
    },
  };
}

interface HostThread {
  pid: number;
  tid: number;
  name: string;
  /** real, effective, saved */
  uids: [number, number, number];
}

interface HostView {
  record: { ids?: { uidBase: number }; cgroup?: { dirs: string[] } };
  threads: HostThread[];
  markerPid?: number;
  /** Host uid of the file the command made in its tmpfs, seen through the command's root. */
  ownedHostUid?: number;
}

/** Every thread of every process in the sandbox's cgroups, with its host uids. */
function lookFromHost(): HostView {
  const files = records();
  if (files.length !== 1) throw new Error(`expected one sandbox record, found ${files.join(", ") || "none"}`);
  const record = JSON.parse(readFileSync(join(env.IRONCLAW_STATE_DIR, "sandboxes", files[0]!), "utf8")) as HostView["record"];
  const pids = new Set<number>();
  for (const dir of record.cgroup?.dirs ?? []) {
    for (const pid of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) pids.add(Number(pid));
  }
  const view: HostView = { record, threads: [] };
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8") === MARKER.split(" ").join("\0") + "\0") {
        view.markerPid = pid;
        view.ownedHostUid = statSync(`/proc/${pid}/root/tmp/hardening-owned`).uid;
      }
    } catch {
      continue; // gone meanwhile
    }
    for (const tid of tids) {
      try {
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
        const [real, eff, saved] = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)!.slice(1).map(Number);
        view.threads.push({ pid, tid: Number(tid), name: /^Name:\s+(.*)$/m.exec(status)![1]!, uids: [real!, eff!, saved!] });
      } catch {
        // gone meanwhile
      }
    }
  }
  return view;
}

/**
 * `ironclaw exec --no-daemon -i -- sh` with `script` on stdin — in-process, so that the sandbox
 * descends from this call — under a fresh session keyring of its own (`keyctl session -`, so the
 * test process's own keyring is untouched) that holds a key named KEY_NAME. `whileRunning` runs
 * once the script printed `probe-done` and the MARKER command is up, then the CLI gets SIGTERM.
 */
function execProbe(backend: BackendName, script: string, whileRunning?: () => HostView): Promise<Run & { host?: HostView; control: boolean }> {
  const cli = [BIN, "exec", "--no-daemon", "--backend", backend, "--timeout", "120", "-i", "--", "sh"];
  const argv = hasKeyctl
    ? [
        KEYCTL,
        "session",
        "-",
        "/bin/sh",
        "-c",
        'keyctl add user "$0" secret @s >/dev/null && keyctl search @s user "$0" >/dev/null && echo "control: $0 is in the caller\'s session keyring" >&2 && exec "$@"',
        KEY_NAME,
        ...cli,
      ]
    : cli;
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    let host: HostView | undefined;
    let lookError: unknown;
    let closed = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.end(script);
    if (whileRunning) {
      void until(() => closed || (stdout.includes("probe-done\n") && commandRunning(MARKER)), Boolean, 60_000).then(() => {
        if (closed) return;
        try {
          host = whileRunning();
        } catch (err) {
          lookError = err;
        }
        child.kill("SIGTERM");
      });
    }
    child.on("close", (code, signal) => {
      closed = true;
      if (lookError) stderr += `\nhost look failed: ${String(lookError)}`;
      resolve({ code, signal, stdout, stderr, host, control: stderr.includes(`control: ${KEY_NAME} is in the caller's session keyring`) });
    });
  });
}

const probes = new Map<BackendName, Awaited<ReturnType<typeof execProbe>>>();
beforeAll(async () => {
  for (const backend of backends) {
    const namespace = backend === "namespace";
    const r = await execProbe(backend, probeScript(namespace), namespace ? lookFromHost : undefined);
    if (!r.stdout.includes("probe-done\n")) throw new Error(`the ${backend} probe did not finish (exit ${r.code ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    probes.set(backend, r);
  }
}, 240_000);

// This harness's state dir is not among those the suite's leak check reads: check it here.
afterAll(() => expect(records()).toEqual([]));

const probe = (backend: BackendName) => parse(probes.get(backend)!.stdout);

describe.skipIf(!backends.includes("namespace"))("namespace sandbox hardening (ironclaw exec --backend namespace)", () => {
  it("maps no id of the sandbox to host root: no process or thread in its cgroup has host uid 0, and its files are uid 0 inside only", () => {
    const p = probe("namespace");
    for (const map of ["uid-map", "gid-map"]) {
      const ranges = p.section(map).map((l) => l.trim().split(/\s+/).map(Number));
      expect(ranges.length, map).toBeGreaterThan(0);
      // inside outside count: host id 0 lies in [outside, outside + count) only if outside is 0.
      for (const [, outside] of ranges) expect(outside, `${map} ${ranges.join(" | ")}`).toBeGreaterThan(0);
    }
    expect(p.value("owned-uid")).toBe("0");

    const run = probes.get("namespace")!;
    expect(run.stderr).not.toMatch(/host look failed/);
    expect(run.host, "the host looked while the sandbox ran").toBeDefined();
    const host = run.host!;
    expect(host.markerPid, "the marker command was found in the sandbox's cgroup").toBeDefined();
    // bubblewrap, the agent (with its threads) and the command at least: the look is not vacuous.
    expect(new Set(host.threads.map((t) => t.pid)).size).toBeGreaterThanOrEqual(3);
    expect(host.threads.filter((t) => t.uids.includes(0))).toEqual([]);
    expect(host.ownedHostUid).not.toBe(0);
    if (asRoot) {
      // As root, the sandbox's ids are a block of the reserved range: inside uid 0 is its base.
      expect(host.record.ids, "the record names the sandbox's id block").toBeDefined();
      expect(host.ownedHostUid).toBe(host.record.ids!.uidBase);
    }
    // SIGTERM tore the sandbox down.
    expect(run.code).toBe(143);
    expect(records()).toEqual([]);
  });

  it("leaves no file under /proc/sys writable, nor /proc/sysrq-trigger; masks kcore, keys, timer_list, sched_debug; mounts /proc/sys read-only", () => {
    const p = probe("namespace");
    expect(Number(p.value("sysctl-files")), "find walked /proc/sys").toBeGreaterThan(100);
    expect(p.section("sysctl-writable")).toEqual([]);
    expect(p.value("sysrq")).toBe(existsSync("/proc/sysrq-trigger") ? "refused" : "absent");
    for (const f of MASKED) {
      // Unreadable or empty where the host has it; a kernel without it has nothing to mask.
      if (existsSync(f)) expect({ f, bytes: p.value(`masked:${f}`) }).toEqual({ f, bytes: "0" });
    }
    const mounts = new Map(
      p
        .section("mountinfo")
        .map((l) => l.split(" "))
        .map((f) => [f[4]!, f[5]!.split(",")]),
    );
    for (const path of READ_ONLY) {
      if (path === "/proc/sys" || existsSync(path)) expect({ path, options: mounts.get(path) }).toEqual({ path, options: expect.arrayContaining(["ro"]) });
    }
  });

  it("refuses nested user namespaces and keyctl, io_uring_setup, userfaultfd, bpf, perf_event_open and AF_VSOCK with EPERM; commands hold no capabilities", () => {
    const p = probe("namespace");
    expect(p.value("Seccomp")).toBe("2");
    expect(p.value("NoNewPrivs")).toBe("1");
    for (const cap of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) expect({ cap, set: p.value(cap) }).toEqual({ cap, set: "0000000000000000" });
    expect(p.value("unshare-U")).not.toBe("0");
    expect(p.value("sys:vsock")).toBe("EPERM");
    if (!x86_64) return;
    for (const call of ["keyctl", "io_uring_setup", "userfaultfd", "bpf", "perf_event_open", "unshare_newuser"]) {
      expect({ call, errno: p.value(`sys:${call}`) }).toEqual({ call, errno: "EPERM" });
    }
  });

  it.skipIf(!asRoot)("keeps the guest agent out of the command's reach: another uid (999), no signal, no memory or environ, no ptrace, no setuid to it", () => {
    const p = probe("namespace");
    expect(p.value("agent-cmdline")).toBe("/opt/ironclaw/node /opt/ironclaw/guest-agent.mjs ");
    expect(p.value("agent-uids")?.split(" ")[0]).toBe("999");
    expect(p.value("agent-seccomp")).toBe("2");
    expect(p.value("kill-agent")).not.toBe("0");
    expect(p.value("agent-mem")).not.toBe("OK");
    expect(p.value("agent-environ")).not.toBe("OK");
    expect(p.value("setpriv-999")).not.toBe("0");
    if (x86_64) expect(p.value("sys:ptrace_attach")).toBe("EPERM");
  });

  it.skipIf(!asRoot)(
    "cannot plant code for the agent's next setpriv (it still holds the agent's capabilities while the loader runs): /, /etc and the loader link are not the command's",
    () => {
      const p = probe("namespace");
      expect(p.value("plant-preload")).not.toBe("0");
      expect(p.value("swap-loader-link")).not.toBe("0");
    },
  );

  it.todo(
    "a command cannot write the guest agent's /proc files: today /proc/AGENT/oom_score_adj takes 1000 (the agent becomes the OOM killer's first choice in the sandbox's cgroup), and coredump_filter, clear_refs, sched and autogroup take writes, and /proc/AGENT/fd lists: the agent is not dumpable, so its /proc files belong to its user namespace's root, which is the commands' uid 0",
  );
  it.todo(
    "as a user other than root the guest agent is out of the command's reach too: today agent and command are both uid 0 there, so a command can signal the agent and open /proc/AGENT/mem and environ (seccomp refuses ptrace, not /proc/PID/mem)",
  );
});

describe.each(backends)("%s sandbox: what holds on every backend", (backend) => {
  it.skipIf(!hasKeyctl)("cannot reach the caller's session keyring: the test's own key is absent, the keyring is empty or keyctl refused", () => {
    const run = probes.get(backend)!;
    // The control: the key really was in the keyring of the process that ran ironclaw.
    expect(run.control).toBe(true);
    expect(run.stdout).not.toContain(KEY_NAME);
    const p = parse(run.stdout);
    const keyring = p.section("keyring");
    if (p.value("keyring-rc") === "0") {
      // keyctl show lists the session keyring and, indented under it, what it links.
      expect(keyring.filter((l) => l.includes("\\_"))).toEqual([]);
    } else {
      expect(keyring.join("\n")).toMatch(/Operation not permitted|Function not implemented/);
    }
    expect(p.section("proc-keys").filter((l) => l.includes("user"))).toEqual([]);
  });

  it("masks the host's kcore, keys, timer_list and sched_debug (absent or empty)", () => {
    const p = probe(backend);
    for (const f of MASKED) expect({ f, bytes: p.value(`masked:${f}`) }).toEqual({ f, bytes: expect.stringMatching(/^(0|absent)$/) });
  });

  it("leaves the files a command makes owned by the sandbox's root (uid 0 inside)", () => {
    expect(probe(backend).value("owned-uid")).toBe("0");
  });
});

describe.skipIf(!backends.includes("gvisor"))("gvisor sandbox hardening (ironclaw exec --backend gvisor)", () => {
  it("answers io_uring, userfaultfd, bpf, perf_event_open and AF_VSOCK from the Sentry, never with a working host facility", () => {
    const p = probe("gvisor");
    expect(p.value("sys:vsock")).not.toBe("OK");
    if (!x86_64) return;
    // Not EPERM necessarily: the Sentry, not a filter, answers (ENOSYS, ENODEV, EPERM, …).
    for (const call of ["io_uring_setup", "userfaultfd", "bpf", "perf_event_open"]) {
      expect({ call, result: p.value(`sys:${call}`) }).toEqual({ call, result: expect.not.stringMatching(/^OK$/) });
    }
  });

  it.todo("no process of a gVisor sandbox has host uid 0 (runsc's ids are being changed; assert from the host once they are)");
  it.todo(
    "a command cannot reach the guest agent under gVisor: today it runs as the agent's uid 0, so it can signal it (kill -0 $PPID succeeds) and read its environ, and it may write the Sentry's /proc/sys/kernel/yama/ptrace_scope (1) to 0, after which PTRACE_SEIZE of the agent and opening /proc/AGENT/mem succeed",
  );
});

describe.each(backends)("ordinary work under the %s hardening", (backend) => {
  const hasCc = existsSync("/usr/bin/cc");
  if (!hasCc) console.warn(`hardening: skipping the compiler case on ${backend}: the host has no /usr/bin/cc, so the sandbox's /usr has none`);
  // npm from the host's /usr (the sandbox's runtime) run by the sandbox's own node.
  let npmCli: string | null = null;
  try {
    npmCli = realpathSync("/usr/bin/npm");
  } catch {
    // none
  }
  if (npmCli && !npmCli.startsWith("/usr/")) npmCli = null;
  if (!npmCli) console.warn(`hardening: skipping the npm test case on ${backend}: no npm under /usr, so the sandbox has none`);

  const script = String.raw`
set -u
cd "$(mktemp -d)"
cat > child.js <<'JS'
process.send("child-ok");
JS
/opt/ironclaw/node -e '
const { Worker } = require("node:worker_threads");
const { fork } = require("node:child_process");
new Worker("require(\"node:worker_threads\").parentPort.postMessage(6 * 7)", { eval: true }).on("message", (n) => {
  fork("./child.js").on("message", (m) => console.log("node: worker=" + n + " fork=" + m));
});' 2>&1
python3 -c '
import threading
from multiprocessing import shared_memory
out = []
ts = [threading.Thread(target=lambda i=i: out.append(i * i)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
m = shared_memory.SharedMemory(create=True, size=64); m.buf[0] = 7; v = m.buf[0]; m.close(); m.unlink()
print("python: threads=%d sum=%d shm=%d" % (len(out), sum(out), v))' 2>&1
git init -q repo && cd repo && echo hi > f && git add f && git -c user.name=t -c user.email=t@example.com commit -qm first 2>&1 && echo "git: $(git rev-list --count HEAD) $(git log --format=%s)"; cd ..
${hasCc ? String.raw`printf '#include <stdio.h>\nint main(void) { printf("cc: %%d\\n", 6 * 7); return 0; }\n' > h.c && cc -o h h.c 2>&1 && ./h` : ""}
echo "pipe: $(seq 1 1000 | sort -rn | head -n 1)"
for i in 1 2 3 4 5; do sh -c 'exit 0' & done; wait; echo "fork: $(for i in 1 2 3; do /bin/echo x; done | wc -l)"
echo shm-ok > /dev/shm/t && echo "devshm: $(cat /dev/shm/t)" && rm /dev/shm/t
${
  npmCli
    ? String.raw`mkdir proj && cd proj
printf '{"name":"tiny","version":"1.0.0","private":true,"scripts":{"test":"node --test"}}\n' > package.json
printf 'const test = require("node:test");\nconst assert = require("node:assert");\ntest("adds", () => { console.log("tiny-test-ran"); assert.strictEqual(1 + 1, 2); });\n' > add.test.js
PATH=/opt/ironclaw:$PATH npm_config_update_notifier=false /opt/ironclaw/node ${npmCli} test --offline > npm.log 2>&1; echo "npm: rc=$?"
sed 's/^/npm-log: /' npm.log`
    : ""
}
`;

  it(`runs node (worker, fork), python3 (threads, shared memory), git, ${hasCc ? "cc, " : ""}pipes, fork/exec, /dev/shm${npmCli ? " and npm test" : ""}`, async () => {
    const r = await execProbe(backend, script);
    const out = r.stdout.split("\n");
    const expected = [
      "node: worker=42 fork=child-ok",
      "python: threads=8 sum=140 shm=7",
      "git: 1 first",
      ...(hasCc ? ["cc: 42"] : []),
      "pipe: 1000",
      "fork: 3",
      "devshm: shm-ok",
      ...(npmCli ? ["npm: rc=0"] : []),
    ];
    expect({ missing: expected.filter((l) => !out.includes(l)), stdout: r.stdout, stderr: r.stderr }).toMatchObject({ missing: [] });
    if (npmCli) expect(r.stdout).toMatch(/npm-log: .*tiny-test-ran/);
    expect(r.code).toBe(0);
  });
});
