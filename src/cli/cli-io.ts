// How the CLI talks to the person at the terminal, and takes their input.
import { MAX_FILE_BYTES } from "../../guest-agent/guest-protocol.ts";
import { UsageError } from "../exit-codes.ts";
import { oneLine } from "../terminal-text.ts";

/**
 * One line from IronClaw to the person at the terminal. What follows "ironclaw: " often quotes
 * a server, a model or a sandbox (an error, a reason, a tool's name): it is kept to one line with
 * every control character visible, so no quoted text can end IronClaw's line, start one that
 * looks like IronClaw's, or drive the terminal.
 */
export const say = (line: string) => process.stderr.write(`ironclaw: ${oneLine(line)}\n`);

export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_FILE_BYTES) throw new UsageError(`--stdin takes at most ${MAX_FILE_BYTES} bytes; pass larger input as a file`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
