// The CLI's first file. Compiling the bundled CLI is a large part of a short run's cost, so
// V8's compiled code is cached between runs (Node's module compile cache) before it loads.
import { enableCompileCache } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

try {
  enableCompileCache(join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ironclaw", "compile-cache"));
} catch {
  // A cache that cannot be written only costs speed.
}
await import(new URL("./cli.mjs", import.meta.url).href);
