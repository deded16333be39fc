// The guest agent: the one program IronClaw runs inside every sandbox. It speaks the framed
// protocol on its own stdin/stdout and does nothing the host did not ask for. It is bundled
// into a single file (dist/guest-agent.mjs) because a sandbox sees no node_modules.
//
// The micro-VM images run it from a V8 startup snapshot (guest-agent/image/build-image.sh):
// under TCG, compiling and evaluating the bundle (Effect Schema above all) is most of the
// agent's start. So loading this module only defines things; the agent starts in `start()`,
// which the module calls at once, or which the snapshot runs when it is deserialized.
import { spawn, type ChildProcess } from "node:child_process";
import { lstat, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { release } from "node:os";
import { chmodSync, lchownSync, readFileSync, statSync, type Stats } from "node:fs";
import { startupSnapshot } from "node:v8";
import { encodeFrame, FrameDecoder } from "./framing.ts";
import {
  DEFAULT_OUTPUT_CAP_BYTES,
  decodeHostMessage,
  type ExecRequest,
  type FileEntry,
  GUEST_ENV,
  type GuestMessage,
  MAX_FILE_BYTES,
  OUTPUT_CHUNK_BYTES,
  PROTOCOL_VERSION,
  type StdinRequest,
} from "./guest-protocol.ts";

const AGENT_VERSION = "0.1.0";
/** After SIGTERM on timeout, how long the command gets before SIGKILL. */
const KILL_GRACE_MS = 1000;
/** After the command exits, how long to wait for its pipes to drain (a background child may hold them). */
const DRAIN_GRACE_MS = 200;

const running = new Map<string, ChildProcess>();
/** Running execs whose stdin stays open for `stdin` requests. */
const interactive = new Set<string>();
const paused = new Set<NodeJS.ReadableStream>();

function send(message: GuestMessage): void {
  if (!process.stdout.write(encodeFrame(message))) {
    // Backpressure: stop reading command output until the host has taken what we sent.
    for (const child of running.values()) {
      for (const s of [child.stdout, child.stderr]) {
        if (s && !s.isPaused()) {
          s.pause();
          paused.add(s);
        }
      }
    }
  }
}
function errorReply(id: string | null, code: string, message: string): void {
  send({ type: "error", id, code, message });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function directoryProblem(path: string): string | null {
  try {
    return statSync(path).isDirectory() ? null : "is not a directory";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EACCES" ? "is not accessible" : "does not exist";
  }
}

/**
 * The ids commands run as, when the sandbox gave the agent ids of its own (IRONCLAW_EXEC_AS,
 * "uid:gid"): the agent then works with root's effective ids on the sandbox's files, while its
 * real and saved ids stay apart, so a command can neither signal nor trace it.
 */
let commandIds: { uid: number; gid: number } | null = null;

function takeIdentity(): void {
  const spec = /^(\d+):(\d+)$/.exec(process.env.IRONCLAW_EXEC_AS ?? "");
  if (!spec) return;
  commandIds = { uid: Number(spec[1]), gid: Number(spec[2]) };
  // Both exist on every POSIX Node; the agent only runs on Linux.
  process.setegid!(commandIds.gid);
  process.seteuid!(commandIds.uid);
  // bubblewrap made the sandbox's own directories as the agent's uid: hand over what is the commands'.
  for (const [dir, { chown, mode }] of OWN_DIRS) {
    try {
      if (chown) lchownSync(dir, commandIds.uid, commandIds.gid);
      if (mode !== undefined) chmodSync(dir, mode);
    } catch {
      // not there in this sandbox, or a read-only mount: nothing to hand over
    }
  }
}

const SETPRIV = "/usr/bin/setpriv";
/**
 * The directories a namespace sandbox starts with (sandbox-view.ts), as bubblewrap made them
 * (uid 999): which the commands get (chown) and which mode each keeps. "/", "/etc" and "/opt"
 * stay the agent's: a command owning them could plant /etc/ld.so.preload or swap the /lib64
 * loader link, and the agent's next setpriv — still holding its capabilities — would run it.
 */
const OWN_DIRS: readonly (readonly [string, { chown: boolean; mode?: number }])[] = [
  ["/", { chown: false, mode: 0o755 }],
  ["/etc", { chown: false, mode: 0o755 }],
  ["/opt", { chown: false, mode: 0o755 }],
  ["/root", { chown: true, mode: 0o700 }],
  ["/workspace", { chown: true, mode: 0o755 }],
  ["/tmp", { chown: false, mode: 0o1777 }],
  ["/dev/shm", { chown: false, mode: 0o1777 }],
];

/** execvp's search, done here so that a missing command still reads as one (setpriv would exit 127). */
function resolveCommand(file: string, path: string, cwd: string): string | { code: "ENOENT" | "EACCES" } {
  const candidates = file.includes("/")
    ? [file.startsWith("/") ? file : `${cwd}/${file}`]
    : path
        .split(":")
        .filter(Boolean)
        .map((dir) => `${dir}/${file}`);
  let denied = false;
  for (const candidate of candidates) {
    let s: Stats;
    try {
      s = statSync(candidate);
    } catch {
      continue;
    }
    if (s.isFile() && s.mode & 0o111) return candidate;
    denied = true;
  }
  return { code: denied ? "EACCES" : "ENOENT" };
}

/** How to start a command: as is, or through setpriv with the command's ids and no capabilities at all. */
function commandLaunch(
  file: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  cwd: string,
): { file: string; args: string[] } | { code: "ENOENT" | "EACCES" } {
  if (!commandIds) return { file, args: [...args] };
  // glibc's execvp, which setpriv uses, searches "/bin:/usr/bin" when PATH is unset.
  const resolved = resolveCommand(file, env.PATH ?? "/bin:/usr/bin", cwd);
  if (typeof resolved !== "string") return resolved;
  const { uid, gid } = commandIds;
  return {
    file: SETPRIV,
    // `file` as given, not `resolved`: setpriv finds it the same way, and argv[0] stays the caller's.
    args: [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all", "--", file, ...args],
  };
}

function exec(req: ExecRequest): void {
  if (running.has(req.id)) return errorReply(req.id, "EPROTO", `exec id ${req.id} is already running`);
  const started = performance.now();
  const cap = req.outputCapBytes ?? (req.interactive ? Number.POSITIVE_INFINITY : DEFAULT_OUTPUT_CAP_BYTES);
  let outputBytes = 0;
  let truncated = false;
  let timedOut = false;
  let finished = false;

  // spawn reports a missing cwd as ENOENT, which would read as "command not found".
  const cwd = req.cwd ?? "/";
  const cwdProblem = directoryProblem(cwd);
  if (cwdProblem) return errorReply(req.id, "ENOTDIR", `working directory ${cwd} ${cwdProblem} in the sandbox (check --cwd)`);

  const [file, ...args] = req.argv;
  const launch = commandLaunch(file!, args, req.env ?? GUEST_ENV, cwd);
  if ("code" in launch)
    return errorReply(req.id, launch.code, launch.code === "ENOENT" ? `command not found in the sandbox: ${file}` : `permission denied running ${file} in the sandbox`);
  const child = spawn(launch.file, launch.args, {
    cwd,
    env: req.env ?? GUEST_ENV,
    detached: true, // its own process group, so timeout and cancel reach every descendant
    stdio: ["pipe", "pipe", "pipe"],
  });
  running.set(req.id, child);

  const forward = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
    if (truncated) return;
    const room = cap - outputBytes;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    outputBytes += part.length;
    for (let at = 0; at < part.length; at += OUTPUT_CHUNK_BYTES) {
      send({ type: "output", id: req.id, stream, data: part.subarray(at, at + OUTPUT_CHUNK_BYTES).toString("base64") });
    }
    if (chunk.length > room) {
      // Past the cap: close our ends so the command sees EPIPE/SIGPIPE, like `cmd | head -c N`.
      truncated = true;
      child.stdout?.destroy();
      child.stderr?.destroy();
    }
  };
  child.stdout!.on("data", forward("stdout"));
  child.stderr!.on("data", forward("stderr"));
  child.stdin!.on("error", () => {}); // a command that never reads its stdin is not an error
  if (req.interactive) {
    interactive.add(req.id);
    if (req.stdin) child.stdin!.write(Buffer.from(req.stdin, "base64"));
  } else child.stdin!.end(req.stdin ? Buffer.from(req.stdin, "base64") : undefined);

  let timer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  if (req.timeoutMs !== undefined && req.timeoutMs > 0) {
    timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, "SIGTERM");
      killTimer = setTimeout(() => killGroup(child, "SIGKILL"), KILL_GRACE_MS);
    }, req.timeoutMs);
  }

  const finish = (message: GuestMessage) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    clearTimeout(killTimer);
    running.delete(req.id);
    interactive.delete(req.id);
    send(message);
  };

  child.on("error", (err: NodeJS.ErrnoException) => {
    const code = err.code ?? "EIO";
    const what =
      code === "ENOENT"
        ? `command not found in the sandbox: ${file}`
        : code === "EACCES"
          ? `permission denied running ${file} in the sandbox`
          : `cannot run ${file} in the sandbox: ${err.message}`;
    finish({ type: "error", id: req.id, code, message: what });
  });
  child.on("exit", (code, signal) => {
    const result = (): GuestMessage => ({
      type: "exit",
      id: req.id,
      code,
      signal,
      timedOut,
      truncated,
      outputBytes,
      durationMs: Math.round(performance.now() - started),
    });
    const drained = setTimeout(() => {
      killGroup(child, "SIGKILL");
      finish(result());
    }, DRAIN_GRACE_MS);
    child.on("close", () => {
      clearTimeout(drained);
      finish(result());
    });
  });
}

/** Feeds a running interactive exec's stdin; `ok` once the bytes are in the command's pipe. */
function stdin(req: StdinRequest): void {
  const child = running.get(req.target);
  if (!child || !interactive.has(req.target)) {
    return errorReply(req.id, child ? "EPROTO" : "ESRCH", child ? `exec ${req.target} was not started interactive` : `no running exec ${req.target}`);
  }
  const pipe = child.stdin!;
  if (pipe.writableEnded) return errorReply(req.id, "EPIPE", `stdin of exec ${req.target} is already closed`);
  const done = (err?: Error | null) => (err ? errorReply(req.id, (err as NodeJS.ErrnoException).code ?? "EPIPE", err.message) : send({ type: "ok", id: req.id }));
  const data = req.data ? Buffer.from(req.data, "base64") : undefined;
  if (req.eof) pipe.end(data, (err?: Error | null) => done(err ?? pipe.errored));
  else pipe.write(data ?? Buffer.alloc(0), done);
}

function entryOf(name: string, s: Stats): FileEntry {
  const kind = s.isFile() ? "file" : s.isDirectory() ? "directory" : s.isSymbolicLink() ? "symlink" : "other";
  return { name, kind, size: s.size, mode: s.mode & 0o7777, mtimeMs: s.mtimeMs };
}

async function fileOp(run: () => Promise<GuestMessage>, id: string): Promise<void> {
  try {
    send(await run());
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    errorReply(id, e.code ?? "EIO", e.message);
  }
}

/** Exit codes the VM's init acts on: the host asked us to stop (power off), or just went away (wait for it). */
const EXIT_SHUTDOWN = 0;
const EXIT_HOST_GONE = 75;

function shutdown(id: string | null, code = EXIT_SHUTDOWN): void {
  for (const child of running.values()) killGroup(child, "SIGKILL");
  if (id) send({ type: "ok", id });
  process.stdout.end(() => process.exit(code));
}

/** The image's helper that makes the kernel reseed its CRNG now (guest-agent/image/crng-reseed.S). */
const CRNG_RESEED = "/opt/ironclaw/crng-reseed";

/** Runs a program to its end; its exit code, or null when it could not be started. */
function runQuietly(file: string, args: readonly string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: "ignore" });
    child.on("error", () => resolve(null));
    child.on("exit", (code) => resolve(code));
  });
}

async function resume(nowMs: number, entropy: string): Promise<void> {
  // Every clone of a snapshot wakes with the same CRNG key, so until the kernel reseeds, every
  // clone's getrandom() and /dev/urandom return the same bytes. Writing to /dev/urandom only
  // mixes into the input pool; Linux reseeds from it on its own schedule (up to a minute away),
  // so also ask for the reseed now (RNDRESEEDCRNG, which mixes in RDRAND/RDSEED as well), before
  // anything else runs. Best effort: outside a VM (or without privilege) neither is possible,
  // and neither is needed; the helper is missing there.
  await writeFile("/dev/urandom", Buffer.from(entropy, "base64")).catch(() => {});
  const reseeded = await runQuietly(CRNG_RESEED, []);
  if (reseeded !== null && reseeded !== 0) process.stderr.write(`ironclaw agent: ${CRNG_RESEED} failed with errno ${reseeded}\n`);
  // The clock only inside IronClaw's own guest image (the one place with the reseed helper): an
  // agent run anywhere else (tests run it on the host, as root) must never set that machine's clock.
  if (reseeded !== null) await runQuietly("date", ["-s", `@${Math.floor(nowMs / 1000)}`]);
  send(helloMessage());
}

/**
 * The running kernel's release. Not os.release() alone: Node reads that once, when `node:os` is
 * loaded, which for the VM image is while the startup snapshot is built, on the build host.
 */
function kernelRelease(): string {
  try {
    return readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    return release();
  }
}

function helloMessage(): GuestMessage {
  return { type: "hello", protocol: PROTOCOL_VERSION, agent: AGENT_VERSION, pid: process.pid, kernel: kernelRelease() };
}

function handle(json: unknown): void {
  const decoded = decodeHostMessage(json);
  if (!decoded.ok) {
    const id = typeof (json as { id?: unknown })?.id === "string" ? (json as { id: string }).id : null;
    return errorReply(id, "EPROTO", `invalid request: ${decoded.error}`);
  }
  const msg = decoded.value;
  switch (msg.type) {
    case "exec":
      return exec(msg);
    case "stdin":
      return stdin(msg);
    case "cancel": {
      const child = running.get(msg.target);
      if (child) killGroup(child, "SIGKILL");
      return send({ type: "ok", id: msg.id });
    }
    case "readFile":
      return void fileOp(async () => {
        const s = await stat(msg.path);
        if (s.size > MAX_FILE_BYTES) {
          throw Object.assign(new Error(`${msg.path} is ${s.size} bytes; one read moves at most ${MAX_FILE_BYTES}`), { code: "E2BIG" });
        }
        return { type: "file", id: msg.id, data: (await readFile(msg.path)).toString("base64") };
      }, msg.id);
    case "writeFile":
      return void fileOp(async () => {
        const data = Buffer.from(msg.data, "base64");
        if (data.length > MAX_FILE_BYTES) {
          throw Object.assign(new Error(`write of ${data.length} bytes exceeds ${MAX_FILE_BYTES}`), { code: "E2BIG" });
        }
        await writeFile(msg.path, data, { mode: msg.mode ?? 0o644 });
        return { type: "ok", id: msg.id };
      }, msg.id);
    case "list":
      return void fileOp(async () => {
        const names = (await readdir(msg.path)).sort();
        const entries = await Promise.all(names.map(async (n) => entryOf(n, await lstat(`${msg.path}/${n}`))));
        return { type: "entries", id: msg.id, entries };
      }, msg.id);
    case "stat":
      return void fileOp(async () => {
        const s = await lstat(msg.path);
        return { type: "stat", id: msg.id, entry: entryOf(msg.path.split("/").pop() || "/", s) };
      }, msg.id);
    case "shutdown":
      return shutdown(msg.id);
    case "resume":
      return void resume(msg.nowMs, msg.entropy);
  }
}

/** One request of every type, decoded while the snapshot is built (and one that fails, for the error path). */
const SNAPSHOT_WARMUP: readonly unknown[] = [
  { type: "exec", id: "w", argv: ["true"], cwd: "/", env: { A: "b" }, stdin: "", timeoutMs: 1, outputCapBytes: 1, interactive: true },
  { type: "stdin", id: "w", target: "w", data: "", eof: true },
  { type: "cancel", id: "w", target: "w" },
  { type: "readFile", id: "w", path: "/" },
  { type: "writeFile", id: "w", path: "/", data: "", mode: 420 },
  { type: "list", id: "w", path: "/" },
  { type: "stat", id: "w", path: "/" },
  { type: "shutdown", id: "w" },
  { type: "resume", id: "w", nowMs: 0, entropy: "" },
  { type: "exec", id: "", argv: [] },
];

/** Serves the host on stdin/stdout, starting with hello. Nothing before this touches either. */
function start(): void {
  takeIdentity();
  const decoder = new FrameDecoder();
  process.stdout.on("drain", () => {
    for (const s of paused) s.resume();
    paused.clear();
  });
  process.stdin.on("data", (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) {
      if (frame.ok) handle(frame.json);
      else {
        errorReply(null, "EPROTO", frame.error);
        if (frame.fatal) shutdown(null);
      }
    }
  });
  // The host is our only reason to exist: when it goes away, so do we and everything we started.
  process.stdin.on("end", () => shutdown(null, EXIT_HOST_GONE));
  process.on("uncaughtException", (err) => {
    try {
      errorReply(null, "EAGENT", `guest agent crashed: ${err.message}`);
    } finally {
      for (const child of running.values()) killGroup(child, "SIGKILL");
      process.exit(70);
    }
  });
  send(helloMessage());
}

if (startupSnapshot.isBuildingSnapshot()) {
  // The first decode of a request builds Effect Schema's parser for it (and compiles the code
  // that runs it): do that for every request type now, so the snapshot holds them and the first
  // request in the guest does not pay.
  for (const sample of SNAPSHOT_WARMUP) decodeHostMessage(sample);
  encodeFrame(helloMessage());
  startupSnapshot.setDeserializeMainFunction(start);
} else {
  start();
}
