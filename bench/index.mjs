// `npm run bench`: every benchmark, one JSON document. Measures; asserts nothing.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const run = (file) => JSON.parse(execFileSync(process.execPath, [join(here, file)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }));
console.log(JSON.stringify({ exec: run("exec.bench.mjs"), pool: run("pool.bench.ts"), vm: run("vm.bench.ts") }, null, 2));
