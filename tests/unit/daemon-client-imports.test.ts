// `ironclaw exec` through a daemon loads no runtime: not src/runtime.ts, not the machines, the
// sandbox drivers or the MCP SDK — only the CLI, the daemon client and the protocol. Shown on
// the CLI bundled as scripts/build.mjs bundles it (split along its lazy imports): esbuild's
// metafile says which source files each output chunk holds and which chunks it imports
// statically. What a process that runs main.ts and then exec.command.ts loads is those two
// chunks and everything they import statically; a dynamic import (the in-process path's
// runtime) is loaded only when it runs, which through the daemon it does not.
import { join } from "node:path";
import { build, type Metafile } from "esbuild";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

async function cliMetafile(): Promise<Metafile> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: { cli: "src/cli/main.ts" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    splitting: true,
    outdir: "dist-imports-test",
    outExtension: { ".js": ".mjs" },
    external: ["pino-pretty"],
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  return result.metafile;
}

/** The source files loaded once `entries` have been: their chunks and what those import statically, transitively. */
function loadedBy(meta: Metafile, entries: string[]): Set<string> {
  const chunks = Object.entries(meta.outputs);
  const pending = entries.map((entry) => {
    const found = chunks.find(([, out]) => out.entryPoint === entry);
    if (!found) throw new Error(`no chunk is the entry ${entry}`);
    return found[0];
  });
  const seen = new Set<string>();
  const sources = new Set<string>();
  while (pending.length) {
    const chunk = pending.pop()!;
    if (seen.has(chunk)) continue;
    seen.add(chunk);
    const out = meta.outputs[chunk]!;
    for (const input of Object.keys(out.inputs)) sources.add(input);
    for (const imported of out.imports) if (imported.kind === "import-statement" && !imported.external) pending.push(imported.path);
  }
  return sources;
}

describe("ironclaw exec through the daemon", () => {
  it("loads the daemon client and none of the runtime", async () => {
    const meta = await cliMetafile();
    const loaded = [...loadedBy(meta, ["src/cli/main.ts", "src/cli/exec.command.ts"])];
    expect(loaded).toContain("src/daemon/daemon-client.ts");
    expect(loaded).toContain("src/daemon/daemon-protocol.ts");
    const runtime = loaded.filter(
      (f) =>
        f === "src/runtime.ts" ||
        f.startsWith("machines/") ||
        // Of the actors, only the I/O-free CPU-quota bounds that --cpus is checked against.
        (f.startsWith("actors/") && f !== "actors/sandbox/cpu-quota.ts") ||
        /node_modules\/(@modelcontextprotocol|xstate|openai|@anthropic-ai)\//.test(f),
    );
    expect(runtime).toEqual([]);
  });

  it("is told apart from the in-process path, which does load the runtime", async () => {
    const meta = await cliMetafile();
    const local = loadedBy(meta, ["src/cli/main.ts", "src/cli/exec.command.ts", "src/service/with-runtime.ts"]);
    expect(local.has("src/runtime.ts")).toBe(true);
    expect([...local].some((f) => f.startsWith("machines/"))).toBe(true);
  });
});
