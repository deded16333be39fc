// Structured logs: JSON lines to a file under the state directory always; a human-readable
// copy on stderr with --verbose. pino-pretty is loaded only then, to keep start-up lean.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { stateDir } from "./paths.ts";

export type { Logger };

export function logFile(): string {
  return join(stateDir(), "logs", "ironclaw.log");
}

export async function createLogger(options: { verbose: boolean }): Promise<Logger> {
  mkdirSync(join(stateDir(), "logs"), { recursive: true, mode: 0o700 });
  const file = pino.destination({ dest: logFile(), sync: true, mkdir: true });
  if (!options.verbose) return pino({ level: "debug", base: { pid: process.pid } }, file);
  const { default: pretty } = await import("pino-pretty");
  const stderr = pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY && !process.env.NO_COLOR, ignore: "pid,hostname" });
  return pino(
    { level: "debug", base: { pid: process.pid } },
    pino.multistream([{ stream: file, level: "debug" }, { stream: stderr, level: "debug" }]),
  );
}
