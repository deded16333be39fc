// `npm run bench`: cold `ironclaw exec -- true` end to end per backend, against the raw
// backend command measured in the same run, as ratios; and the CLI's peak RSS. Prints JSON.
// Not a test: nothing here passes or fails, it measures.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { interleave, once, quantile, round, RUNS } from "./measure.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(root, "bin", "ironclaw");

function find(...paths) {
  return paths.find((p) => existsSync(p)) ?? null;
}
const bwrap = find("/usr/bin/bwrap", "/usr/local/bin/bwrap");
const runsc = find("/usr/bin/runsc", "/usr/local/bin/runsc");

/** Our command against the raw backend command, interleaved. */
async function compare(name, ours, raw) {
  const r = await interleave({ argv: ours }, { argv: raw });
  return {
    backend: name,
    ironclawMedianMs: r.aMedianMs,
    ironclawP90Ms: r.aP90Ms,
    rawCommand: raw.join(" "),
    rawMedianMs: r.bMedianMs,
    ratio: r.ratio,
    cliPeakRssMiB: r.aPeakRssMiB,
  };
}

const results = [];
if (bwrap) {
  const raw = [
    bwrap,
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/bin",
    "/bin",
    "--unshare-all",
    "--die-with-parent",
    "/usr/bin/true",
  ];
  results.push(await compare("namespace", [BIN, "exec", "--backend", "namespace", "--", "true"], raw));
}
if (runsc) {
  results.push(await compare("gvisor", [BIN, "exec", "--backend", "gvisor", "--", "true"], [runsc, "--network=none", "do", "/bin/true"]));
}

// What the namespace hardening (issue 11) costs one sandbox start, in the same run: bubblewrap
// as it started before (as root, the caller's ids) against the same bubblewrap started as the
// namespace driver now does it — under an unprivileged uid, in a fresh keyring, with the seccomp
// filter, /proc covers and binds by descriptor (the id maps are two small writes, left out:
// they need the driver's handshake). Both run /usr/bin/true; the difference is the hardening.
let hardening = null;
if (bwrap && process.getuid?.() === 0) {
  const { seccompProgram } = await import("../actors/sandbox/seccomp-bpf.ts");
  const { PROC_MASKED, PROC_READ_ONLY } = await import("../actors/sandbox/proc-hardening.ts");
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "ironclaw-bench-"));
  const filter = join(dir, "seccomp.bpf");
  writeFileSync(filter, seccompProgram());
  const view = ["--symlink", "usr/lib64", "/lib64", "--symlink", "usr/lib", "/lib", "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev"];
  // What both runs share: the namespaces, no capabilities, root inside.
  const namespaces = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--uid", "0", "--gid", "0"];
  const plain = [...namespaces, "--ro-bind", "/usr", "/usr", ...view, "/usr/bin/true"];
  const covers = [
    ...PROC_READ_ONLY.filter((c) => existsSync(c.path)).flatMap((c) => ["--ro-bind", c.path, c.path]),
    ...PROC_MASKED.filter((c) => existsSync(c.path)).flatMap((c) => ["--ro-bind", "/dev/null", c.path]),
  ];
  // fd 3: the filter, fd 4: /usr by descriptor, both opened by the shell as IronClaw opens them.
  const hardenedBwrap = [...namespaces, "--seccomp", "3", "--ro-bind-fd", "4", "/usr", ...view, ...covers, "/usr/bin/true"];
  const hardened = [
    "/bin/sh",
    "-c",
    'exec 3<"$0" 4</usr; exec "$@"',
    filter,
    "/usr/bin/setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--pdeathsig",
    "KILL",
    "--",
    ...(existsSync("/usr/bin/keyctl") ? ["/usr/bin/keyctl", "session", "-"] : []),
    ...hardenedBwrap,
  ];
  const r = await compare("namespace hardening", hardened, ["/bin/sh", "-c", 'exec "$@"', "sh", ...plain]);
  rmSync(dir, { recursive: true, force: true });
  hardening = { hardenedMedianMs: r.ironclawMedianMs, plainMedianMs: r.rawMedianMs, ratio: r.ratio, addedMs: round(r.ironclawMedianMs - r.rawMedianMs) };
}

// Where the time goes: the floor that two Node start-ups (CLI + guest agent) put under any run.
async function median(argv, exitCode = 0) {
  const times = [];
  for (let i = 0; i < RUNS; i++) times.push((await once(argv, exitCode)).ms);
  return round(quantile(times, 0.5));
}
const node = join(root, "node_modules", "node", "bin", "node");
const floor = {
  nodeStartMs: await median([node, "-e", "0"]),
  // Until its stdin closes the agent waits for requests; /dev/null ends it right after hello,
  // with the exit code that says the host went away (75).
  guestAgentStartMs: await median(["/bin/sh", "-c", `exec ${node} ${join(root, "dist", "guest-agent.mjs")} </dev/null >/dev/null`], 75),
  cliVersionMs: await median([BIN, "--version"]),
};

const targets = { namespaceMedianMs: 60, gvisorRatio: 1.2 };
const ns = results.find((r) => r.backend === "namespace");
const gv = results.find((r) => r.backend === "gvisor");
console.log(
  JSON.stringify({
    runs: RUNS,
    node: process.version,
    results,
    hardening,
    floor,
    targets,
    met: {
      namespaceMedianMs: ns ? ns.ironclawMedianMs <= targets.namespaceMedianMs : null,
      gvisorRatio: gv ? gv.ratio <= targets.gvisorRatio : null,
    },
  }),
);
