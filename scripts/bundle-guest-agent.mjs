// Bundles the guest agent into one self-contained file: a sandbox sees no node_modules.
import { build } from "esbuild";

await build({
  entryPoints: ["guest-agent/agent.ts"],
  outfile: "dist/guest-agent.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
});
