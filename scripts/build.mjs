// Builds what `bin/ironclaw` runs: two self-contained bundles. The CLI is bundled because
// loading hundreds of ESM files costs more start-up than a short `exec` itself, and split into
// chunks (dist/cli-*.mjs) along its lazily imported commands, because parsing one bundle holding
// every command (MCP SDK, model SDKs, inspector) doubled a short run's start-up; the guest
// agent is bundled because a sandbox sees no node_modules. Type-checking is `npm run typecheck`.
// The agent is bundled twice from the same source: as the ES module every backend can run, and
// as the CommonJS script the micro-VM image builds its V8 startup snapshot from (`node
// --build-snapshot` runs a script that may only require built-in modules, not an ES module).
import { copyFile, mkdir, readdir, rm } from "node:fs/promises";
import { build } from "esbuild";

// Chunk names carry a content hash: last build's chunks would otherwise pile up.
await mkdir("dist", { recursive: true });
await Promise.all((await readdir("dist")).filter((f) => /^cli-.*\.mjs(\.map)?$/.test(f)).map((f) => rm(`dist/${f}`)));

const common = { bundle: true, platform: "node", format: "esm", target: "node22", legalComments: "none", logLevel: "warning" };

await Promise.all([
  build({ ...common, entryPoints: ["guest-agent/agent.ts"], outfile: "dist/guest-agent.mjs", minify: true }),
  build({ ...common, format: "cjs", entryPoints: ["guest-agent/agent.ts"], outfile: "dist/guest-agent.snapshot.cjs", minify: true }),
  build({
    ...common,
    entryPoints: { cli: "src/cli/main.ts" },
    outdir: "dist",
    outExtension: { ".js": ".mjs" },
    splitting: true,
    chunkNames: "cli-[hash]",
    // Only with --verbose; resolved from node_modules at run time.
    external: ["pino-pretty"],
    // Bundled CommonJS dependencies (pino) still call require().
    banner: { js: "import { createRequire as __ironclawRequire } from 'node:module'; const require = __ironclawRequire(import.meta.url);" },
    sourcemap: true,
  }),
  build({ ...common, entryPoints: ["src/cli/launch.ts"], outfile: "dist/ironclaw.mjs", external: ["./cli.mjs"] }),
  // The inspector's page, served as static files by `ironclaw inspect` (mermaid.min.js comes from node_modules).
  build({ ...common, platform: "browser", format: "iife", target: "es2022", entryPoints: ["src/inspector/ui/app.ts"], outfile: "dist/inspector/app.js", minify: true }),
  mkdir("dist/inspector", { recursive: true }).then(() => Promise.all(["index.html", "app.css"].map((f) => copyFile(`src/inspector/ui/${f}`, `dist/inspector/${f}`)))),
]);
