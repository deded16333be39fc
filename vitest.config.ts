import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

// The suite runs with its own state and run directories so the final leak check can tell
// exactly what the tests left behind.
const scratch = join(tmpdir(), `ironclaw-test-${process.pid}`);
process.env.IRONCLAW_TEST_SCRATCH = scratch;
process.env.IRONCLAW_STATE_DIR = join(scratch, "state");
process.env.IRONCLAW_RUN_DIR = join(scratch, "run");
// The user's config dir holds the audit key and heads: never the real user's.
process.env.XDG_CONFIG_HOME = join(scratch, "config");
process.env.IRONCLAW_CGROUP_PARENT = `ironclaw-test-${process.pid}`;
process.env.IRONCLAW_SNAPSHOT_PATH = join(scratch, "snapshots");

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/support/leak-check.global.ts"],
    // Real sandboxes on a 2-core machine: keep concurrency modest and give boots room.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
