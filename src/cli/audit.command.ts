// `ironclaw audit verify [FILE]`: walks the audit log's hash chain (actors/audit/audit-log.ts), checks
// its macs with the user's key and holds it against its saved head, and says whether it is
// whole, or the first problem (and its line).
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { auditLogPath } from "../../actors/audit/audit-log.ts";
import { verifyAuditLog } from "../../actors/audit/audit-verify.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import { oneLine, safeJson } from "../../core/terminal-text.ts";
import { AuditLogError, UsageError } from "../../core/errors.ts";

export function runAuditVerify(file: string | undefined, opts: { json: boolean }): number {
  const path = file === undefined ? auditLogPath() : resolve(file);
  // No log at the default place is a fresh install (unless its head says otherwise); a file named on the command line must exist.
  if (file !== undefined && !existsSync(path)) throw new UsageError(`no audit log at ${path}`);
  if (existsSync(path) && !statSync(path).isFile()) throw new UsageError(`${path} is not a file`);
  let result: ReturnType<typeof verifyAuditLog>;
  try {
    result = verifyAuditLog(path);
  } catch (err) {
    if (err instanceof AuditLogError) throw new UsageError(err.message);
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  // A problem or note can quote the head's own text (the path it names): never raw on a terminal.
  if (opts.json) {
    process.stdout.write(`${safeJson({ file: path, ...result })}\n`);
  } else if (result.ok) {
    const empty = existsSync(path) ? "" : ` (no log yet at ${path})`;
    process.stdout.write(`audit log OK: ${result.records} record${result.records === 1 ? "" : "s"}${empty}\n${result.notes.map((n) => `note: ${oneLine(n)}\n`).join("")}`);
  } else {
    process.stdout.write(`audit log BROKEN${result.line === null ? "" : ` at line ${result.line}`}: ${oneLine(result.problem)}\n`);
  }
  return result.ok ? ExitCode.ok : ExitCode.dataError;
}
