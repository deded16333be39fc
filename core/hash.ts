// The one SHA-256 helper: action hashes, file bases, image inputs and the audit chain all use it.
import { createHash } from "node:crypto";

export function sha256Hex(content: string | Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}
