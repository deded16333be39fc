// Structured logs: JSON lines to a file under the state directory always; a human-readable
// copy on stderr with --verbose. pino-pretty is loaded only then, to keep start-up lean.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { Writable } from "node:stream";
import { stateDir } from "../core/paths.ts";
import { visible } from "../core/terminal-text.ts";

export type { Logger };

export function logFile(): string {
  return join(stateDir(), "logs", "ironclaw.log");
}

export async function createLogger(options: { verbose: boolean }): Promise<Logger> {
  mkdirSync(join(stateDir(), "logs"), { recursive: true, mode: 0o700 });
  const file = pino.destination({ dest: logFile(), sync: true, mkdir: true });
  if (!options.verbose) return pino({ level: "debug", base: { pid: process.pid } }, file);
  const { default: pretty } = await import("pino-pretty");
  // Log lines quote servers, models and sandboxes (errors, names): on the terminal every control
  // character is made visible, so pino-pretty's own colours are off (they would be escaped too).
  const terminal = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      process.stderr.write(visible(chunk.toString()), () => done());
    },
  });
  const stderr = pretty({ destination: terminal, sync: true, colorize: false, ignore: "pid,hostname" });
  return pino(
    { level: "debug", base: { pid: process.pid } },
    pino.multistream([
      { stream: file, level: "debug" },
      { stream: stderr, level: "debug" },
    ]),
  );
}
