// How the CLI talks to the person at the terminal, and takes their input.
import { MAX_FILE_BYTES } from "../../guest-agent/guest-protocol.ts";
import { foldLine, oneLine, terminalColumns } from "../../core/terminal-text.ts";
import { UsageError } from "../../core/errors.ts";

/**
 * One line from IronClaw to the person at the terminal. What follows "ironclaw: " often quotes
 * a server, a model or a sandbox (an error, a reason, a tool's name): it is kept to one line with
 * every control character visible, so no quoted text can end IronClaw's line, start one that
 * looks like IronClaw's, or drive the terminal; on a terminal it is folded to the width, so no
 * quoted text can wrap into a row of its own either.
 */
export function say(line: string): void {
  const text = `ironclaw: ${oneLine(line)}`;
  const columns = terminalColumns(process.stderr);
  process.stderr.write(`${columns ? foldLine(text, columns, "  ↳ ") : text}\n`);
}

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

/**
 * Throws away whatever was typed before a question is shown, so a keystroke made while reading
 * something else — or while a model's text pretended to be the question — cannot answer it.
 * Raw mode makes a line typed without Enter readable too; Ctrl-C among it still interrupts.
 */
export async function discardTypeahead(): Promise<void> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return;
  const drop = (data: Buffer) => {
    if (data.includes(0x03)) process.kill(process.pid, "SIGINT");
  };
  stdin.setRawMode(true);
  stdin.on("data", drop);
  stdin.resume();
  // What the terminal already holds arrives with the next reads.
  await new Promise((resolve) => setTimeout(resolve, 30));
  stdin.off("data", drop);
  stdin.pause();
  stdin.setRawMode(false);
}
