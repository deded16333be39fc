// `npm run bench -- --against REF`: this checkout against an earlier commit, measured in the same
// run. REF is checked out into a temporary git worktree (sharing this checkout's node_modules)
// and built; then each figure is taken from both CLIs alternately, so that a busy machine slows
// both alike, and reported as a ratio this/REF (above 1: slower than REF). Each CLI has its own
// state and run directories, and its own daemon for the daemon figures. Measures; asserts nothing.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { interleave, RUNS } from "./measure.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const ref = process.argv[2];
if (!ref) {
  console.error("usage: node bench/against.mjs REF   (a commit, branch or tag to compare this checkout with)");
  process.exit(2);
}
const commit = execFileSync("git", ["rev-parse", "--verify", `${ref}^{commit}`], { cwd: root, encoding: "utf8" }).trim();
const scratch = mkdtempSync(join(tmpdir(), "ironclaw-bench-against-"));
const theirs = join(scratch, "tree");
const project = join(scratch, "project");
mkdirSync(project);

/** The CLI of one tree, with state and run directories of its own. */
function cli(tree, name) {
  const env = {
    ...process.env,
    IRONCLAW_STATE_DIR: join(scratch, name, "state"),
    IRONCLAW_RUN_DIR: join(scratch, name, "run"),
    IRONCLAW_POOL_SIZE: "2",
  };
  const bin = join(tree, "bin", "ironclaw");
  const options = { cwd: project, env };
  return {
    argv: (...args) => ({ argv: [bin, ...args], options }),
    run: (...args) => execFileSync(bin, args, { ...options, stdio: ["ignore", "ignore", "inherit"] }),
  };
}

const figures = {};
try {
  execFileSync("git", ["worktree", "add", "--detach", "--quiet", theirs, commit], { cwd: root, stdio: "inherit" });
  symlinkSync(join(root, "node_modules"), join(theirs, "node_modules"));
  execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: theirs, stdio: "inherit" });
  const ours = cli(root, "this");
  const before = cli(theirs, "ref");
  const backends = ["namespace", ...(existsSync("/usr/bin/runsc") || existsSync("/usr/local/bin/runsc") ? ["gvisor"] : [])];

  figures.version = await interleave(ours.argv("--version"), before.argv("--version"));
  for (const backend of backends) {
    figures[`exec ${backend} in process`] = await interleave(ours.argv("exec", "--backend", backend, "--", "true"), before.argv("exec", "--backend", backend, "--", "true"));
  }
  try {
    ours.run("up", "--backend", "namespace");
    before.run("up", "--backend", "namespace");
    figures["exec namespace through the daemon"] = await interleave(ours.argv("exec", "--", "true"), before.argv("exec", "--", "true"));
  } finally {
    // Both, whichever came up: `down` with no daemon running only says so.
    for (const cli of [ours, before]) {
      try {
        cli.run("down");
      } catch {
        // exit 3: that one never came up
      }
    }
  }
} finally {
  if (existsSync(theirs)) execFileSync("git", ["worktree", "remove", "--force", theirs], { cwd: root, stdio: "inherit" });
  rmSync(scratch, { recursive: true, force: true });
}

const table = Object.fromEntries(
  Object.entries(figures).map(([name, r]) => [name, { thisMedianMs: r.aMedianMs, refMedianMs: r.bMedianMs, thisP90Ms: r.aP90Ms, refP90Ms: r.bP90Ms, ratio: r.ratio }]),
);
console.log(JSON.stringify({ against: { ref, commit }, runs: RUNS, node: process.version, figures: table }));
