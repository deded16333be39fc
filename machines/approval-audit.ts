// An answer at the approval cliff as the audit log records it: the approval's outcome and who
// settled it (its output, the same as its approval.settled event) become the record's decision,
// `by` and reason, and what it was about becomes the record's `action`: the decision's subject
// as data, so the log alone tells what was approved or denied. The action hash
// binds the same things, but a hash cannot be read back; the card it was taken over is not kept
// (its full diff, when one was saved, is deleted after 7 days). For an apply: every file's path,
// status and the SHA-256, size and mode of the bytes written (the card's `after` side), and the
// changes not applied; for a red tool call: the tool and its arguments. Bounded, since the record
// is one line of the log: past the caps the rest are counted (the action hash covers every file).
import type { AuditEntry } from "../core/audit-record.ts";
import { canonicalJson } from "../core/canonical-json.ts";
import { sha256Hex } from "../core/hash.ts";
import type { CardFile, DiffCard, FileSide, SkippedChange } from "../core/diff-card.ts";
import type { ToolCall } from "../core/model.ts";
import type { ApprovalOutput } from "./approval-request.machine.ts";

/** What an answer at the cliff was about: a red tool call, or the session's changes (with their card). */
export type ApprovalSubject = { readonly kind: "tool"; readonly call: ToolCall } | { readonly kind: "apply"; readonly card: unknown };

/** An answer at the cliff, for the audit log, with what it was about. */
export interface ApprovalRecord {
  readonly output: ApprovalOutput;
  readonly subject: ApprovalSubject;
}

/** The audit log's record of an answer: decided before the session acts on it. */
export const approvalAuditEntry = ({ output, subject }: ApprovalRecord): AuditEntry => ({
  session: output.sessionId,
  action: approvalAuditAction(output.summary, subject),
  actionHash: output.actionHash,
  decision: output.outcome,
  by: output.by,
  reason: output.reason,
});

/** Files, and changes not applied, listed one by one; the rest are counted. */
export const MAX_AUDITED_FILES = 10_000;
/** Arguments longer than this (canonical JSON, UTF-16 code units) are recorded by hash and length. */
export const MAX_AUDITED_ARGS_CHARS = 2 ** 20;

export interface AuditedFile {
  readonly path: string;
  readonly status: CardFile["status"];
  /** renamed: the path the bytes moved from (deleted there). */
  readonly from?: string;
  /** The bytes written: SHA-256, size and permission bits; null: the file is deleted. */
  readonly after: FileSide | null;
}

export type ApprovalAuditAction =
  | {
      readonly kind: "apply";
      readonly summary: string;
      readonly files: readonly AuditedFile[];
      /** Files past MAX_AUDITED_FILES, not listed. */
      readonly filesHidden?: number;
      readonly notApplied: readonly SkippedChange[];
      /** Changes not applied that are not listed: past the card's own cap or MAX_AUDITED_FILES. */
      readonly notAppliedHidden?: number;
      readonly fullDiffFile?: string;
    }
  | { readonly tool: string; readonly summary: string; readonly args: unknown }
  | { readonly tool: string; readonly summary: string; readonly argsSha256: string; readonly argsChars: number }
  /** An apply whose card is not a files card (never expected): the summary is all there is. */
  | { readonly kind: "apply"; readonly summary: string };

const isFilesCard = (card: unknown): card is DiffCard & { kind: "files" } =>
  typeof card === "object" && card !== null && "kind" in card && card.kind === "files" && "files" in card && Array.isArray(card.files);

export function approvalAuditAction(summary: string, subject: ApprovalSubject): ApprovalAuditAction {
  if (subject.kind === "tool") {
    const { name: tool, arguments: args } = subject.call;
    const json = canonicalJson(args);
    if (json.length <= MAX_AUDITED_ARGS_CHARS) return { tool, summary, args };
    return { tool, summary, argsSha256: sha256Hex(json), argsChars: json.length };
  }
  const card = subject.card;
  if (!isFilesCard(card)) return { kind: "apply", summary };
  const files = card.files.slice(0, MAX_AUDITED_FILES).map(({ path, status, from, after }): AuditedFile => ({ path, status, ...(from !== undefined && { from }), after }));
  const notApplied = card.notApplied.slice(0, MAX_AUDITED_FILES).map(({ path, kind, why }) => ({ path, kind, why }));
  const filesHidden = card.files.length - files.length;
  const notAppliedHidden = (card.notAppliedHidden ?? 0) + card.notApplied.length - notApplied.length;
  return {
    kind: "apply",
    summary,
    files,
    ...(filesHidden > 0 && { filesHidden }),
    notApplied,
    ...(notAppliedHidden > 0 && { notAppliedHidden }),
    ...(card.fullDiffFile !== undefined && { fullDiffFile: card.fullDiffFile }),
  };
}
