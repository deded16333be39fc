// How the CLI talks to the person at the terminal, and takes their input.
import { MAX_FILE_BYTES } from "../../guest-agent/guest-protocol.ts";
import { UsageError } from "../exit-codes.ts";

export const say = (line: string) => process.stderr.write(`ironclaw: ${line}\n`);

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
