// A stand-in for the `firecracker` binary, run by the real FirecrackerDriver in
// tests/contract/firecracker-driver.test.ts. Firecracker cannot run on the machines these tests
// run on (it is not packaged, and KVM there is PVM-only, where a stock kernel hangs), so this
// test double plays its part on the wire: the HTTP API on --api-sock, refusing what Firecracker's
// API description refuses (tests/support/firecracker-spec.ts) and what Firecracker refuses out of
// order; and the vsock device's Unix socket with its CONNECT/OK handshake, behind which the real
// guest agent runs, its session kept across connections as the image's socat bridge keeps it.
// Every request is appended to the --record file for the test to check. Paths are resolved in
// --chroot when the fake jailer started us, as a jailed Firecracker sees them.
//   fake-firecracker.ts --record FILE --agent AGENT [--chroot DIR] --api-sock PATH
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { createValidator } from "../support/firecracker-spec.ts";

if (process.argv.includes("--version")) {
  process.stdout.write("Firecracker v1.17.0-fake\n");
  process.exit(0);
}
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const record = arg("--record")!;
const agentPath = arg("--agent")!;
const chroot = arg("--chroot") ?? "";
const apiSock = arg("--api-sock")!;
const inVm = (path: string) => join(chroot, path);
const problems = createValidator();

// The agent's resume sets the clock with `date -s`: on this host, it must not.
const shim = join(dirname(record), "shim");
mkdirSync(shim, { recursive: true });
writeFileSync(join(shim, "date"), "#!/bin/sh\nexit 0\n");
chmodSync(join(shim, "date"), 0o755);

type Phase = "configuring" | "running" | "paused";
let phase: Phase = "configuring";
let configured = false;
const config: { bootArgs?: string; kernel?: string; initrd?: string; rootfs?: string; vsock?: string; memMiB?: number } = {};
let guestPort = 0;
let agent: ChildProcess | undefined;
let connection: Socket | null = null;
let pending: Buffer[] = [];

/** The guest's side: the agent's output goes to the connected host, or waits (as in a pipe) for the next one. */
function startAgent(midSession: boolean): void {
  agent = spawn(process.execPath, [agentPath], { stdio: ["pipe", "pipe", "inherit"], env: { PATH: `${shim}:/usr/bin:/bin` } });
  let swallow = midSession; // a restored agent said hello to the host that made the snapshot, not to the next one
  let head = Buffer.alloc(0);
  agent.stdout!.on("data", (chunk: Buffer) => {
    if (swallow) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 4 || head.length < 4 + head.readUInt32BE(0)) return;
      chunk = head.subarray(4 + head.readUInt32BE(0));
      swallow = false;
      if (!chunk.length) return;
    }
    if (connection) connection.write(chunk);
    else pending.push(chunk);
  });
  // The agent told to shut down ends the guest (a reboot), and Firecracker exits.
  agent.once("exit", (code) => process.exit(code === 0 ? 0 : 1));
}

function listenVsock(udsPath: string): void {
  createNetServer((conn) => {
    let line = "";
    const onData = (d: Buffer) => {
      line += d.toString("latin1");
      const nl = line.indexOf("\n");
      if (nl < 0) return;
      conn.off("data", onData);
      // Nothing listens on any other guest port: the connection is reset, as the guest would.
      if (line.slice(0, nl) !== `CONNECT ${guestPort}` || !agent || phase !== "running") return void conn.destroy();
      conn.write("OK 1073741824\n");
      const rest = Buffer.from(line.slice(nl + 1), "latin1");
      if (rest.length) agent.stdin!.write(rest);
      connection = conn;
      for (const b of pending) conn.write(b);
      pending = [];
      conn.on("data", (b: Buffer) => agent!.stdin!.write(b));
      conn.on("close", () => {
        if (connection === conn) connection = null;
      });
      conn.on("error", () => {});
    };
    conn.on("data", onData);
  }).listen(udsPath);
}

type Reply = { status: number; body?: unknown };
const fault = (message: string): Reply => ({ status: 400, body: { fault_message: message } });

function handle(method: string, path: string, body: Record<string, unknown> | undefined): Reply {
  if (method === "GET" && path === "/version") return { status: 200, body: { firecracker_version: "1.17.0-fake" } };
  const wrong = problems(method, path, body);
  if (wrong.length) return fault(wrong.join("; "));
  const b = body ?? {};
  if (phase === "configuring" && method === "PUT") {
    if (path === "/snapshot/load") {
      if (configured) return fault("Loading a microVM snapshot not allowed after configuring boot-specific resources.");
      let state: { fake?: boolean; guestPort: number; vsock: string; rootfs: string };
      try {
        state = JSON.parse(readFileSync(inVm(b.snapshot_path as string), "utf8"));
      } catch (e) {
        return fault(`Load snapshot error: cannot read the microVM state: ${(e as Error).message}`);
      }
      if (!state.fake) return fault("Load snapshot error: bad microVM state");
      const mem = (b.mem_backend as { backend_path: string }).backend_path;
      if (!existsSync(inVm(mem))) return fault(`Load snapshot error: no memory file ${mem}`);
      if (!existsSync(inVm(state.rootfs))) return fault(`Load snapshot error: cannot open the drive ${state.rootfs}`);
      if (b.resume_vm !== true) return fault("this fake only restores running VMs");
      guestPort = state.guestPort;
      const uds = (b.vsock_override as { uds_path?: string } | undefined)?.uds_path ?? state.vsock;
      phase = "running";
      startAgent(true);
      listenVsock(inVm(uds));
      return { status: 204 };
    }
    configured = true;
    if (path === "/machine-config") config.memMiB = b.mem_size_mib as number;
    else if (path === "/boot-source") Object.assign(config, { bootArgs: b.boot_args, kernel: b.kernel_image_path, initrd: b.initrd_path });
    else if (path.startsWith("/drives/")) config.rootfs = b.path_on_host as string;
    else if (path === "/vsock") config.vsock = b.uds_path as string;
    else if (path === "/actions" && b.action_type === "InstanceStart") {
      for (const f of [config.kernel, config.initrd, config.rootfs]) {
        if (!f || !existsSync(inVm(f))) return fault(`Start microvm error: cannot open ${f}`);
      }
      // The guest image reads the agent's vsock port from its kernel command line.
      guestPort = Number(/(?:^| )IRONCLAW_VSOCK_PORT=(\d+)/.exec(config.bootArgs ?? "")?.[1] ?? 0);
      if (!config.vsock || !guestPort) return fault("the guest would not serve its agent: no vsock device or no port on the command line");
      phase = "running";
      process.stdout.write("fake firecracker: guest started\n"); // the serial console
      startAgent(false);
      listenVsock(inVm(config.vsock));
    }
    return { status: 204 };
  }
  if (method === "PATCH" && path === "/vm" && phase !== "configuring") {
    phase = b.state === "Paused" ? "paused" : "running";
    return { status: 204 };
  }
  if (method === "PUT" && path === "/snapshot/create") {
    if (phase !== "paused") return fault("Create snapshot error: the microVM is not paused");
    // Written as Firecracker writes them: created under the process's umask.
    writeFileSync(inVm(b.mem_file_path as string), Buffer.alloc(4096, 1));
    writeFileSync(inVm(b.snapshot_path as string), JSON.stringify({ fake: true, guestPort, vsock: config.vsock, rootfs: config.rootfs }));
    return { status: 204 };
  }
  return fault(`${method} ${path} is not allowed in the ${phase} state`);
}

createHttpServer((req, res) => {
  let text = "";
  req.on("data", (d) => (text += d));
  req.on("end", () => {
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    appendFileSync(record, `${JSON.stringify({ method: req.method, path: req.url, body, contentType: req.headers["content-type"] ?? null })}\n`);
    const reply = handle(req.method!, req.url!, body);
    if (reply.body === undefined) res.writeHead(reply.status).end();
    else res.writeHead(reply.status, { "Content-Type": "application/json" }).end(JSON.stringify(reply.body));
  });
}).listen(inVm(apiSock));
