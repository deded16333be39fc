// `npm run bench`: every benchmark, one JSON document. Measures; asserts nothing.
// `npm run bench -- --against REF` adds this checkout against commit REF, measured in the same run.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { against: { type: "string" } } });
const run = (file, ...args) => JSON.parse(execFileSync(process.execPath, [join(here, file), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }));
console.log(
  JSON.stringify(
    { exec: run("exec.bench.mjs"), pool: run("pool.bench.ts"), vm: run("vm.bench.ts"), ...(values.against && { against: run("against.mjs", values.against) }) },
    null,
    2,
  ),
);
