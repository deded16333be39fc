// What "byte for byte unchanged" compares: every entry under a directory (links not followed),
// with its kind, mode, and content hash or link target.
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

export function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const s = lstatSync(p);
      const mode = (s.mode & 0o7777).toString(8);
      if (s.isSymbolicLink()) out[r] = `link -> ${readlinkSync(p)}`;
      else if (s.isDirectory()) {
        out[r] = `dir ${mode}`;
        walk(p, r);
      } else out[r] = `file ${mode} ${createHash("sha256").update(readFileSync(p)).digest("hex")}`;
    }
  };
  walk(dir, "");
  return out;
}
