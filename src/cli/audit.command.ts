// `ironclaw audit verify [FILE]`: walks the audit log's hash chain (actors/audit-log.ts) and says
// whether it is whole, or the first line where it breaks.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { auditLogPath, verifyAuditLog } from "../../actors/audit-log.ts";
import { ExitCode, UsageError } from "../exit-codes.ts";

export function runAuditVerify(file: string | undefined, opts: { json: boolean }): number {
  const path = file === undefined ? auditLogPath() : resolve(file);
  // No log yet at the default place is a fresh install; a file named on the command line must exist.
  if (file !== undefined && !existsSync(path)) throw new UsageError(`no audit log at ${path}`);
  if (existsSync(path) && !statSync(path).isFile()) throw new UsageError(`${path} is not a file`);
  let result: ReturnType<typeof verifyAuditLog>;
  try {
    result = verifyAuditLog(path);
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ file: path, ...result })}\n`);
  } else if (result.ok) {
    process.stdout.write(`audit log OK: ${result.records} record${result.records === 1 ? "" : "s"}${existsSync(path) ? "" : ` (no log yet at ${path})`}\n`);
  } else {
    process.stdout.write(`audit log BROKEN at line ${result.line}: ${result.problem}\n`);
  }
  return result.ok ? ExitCode.ok : ExitCode.dataError;
}
