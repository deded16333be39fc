// `ironclaw audit verify`'s reading of an audit log (actors/audit/audit-log.ts writes it): the chain,
// each record's mac where the key is here, and the log against the head saved outside it. A
// reader only: it decides nothing about what an agent may do, so it lives apart from the code
// that appends (which tests/unit/auditability.test.ts keeps small).
import { existsSync } from "node:fs";
import { auditAnchorDir, auditHeadPath, auditKeyPath, GENESIS, lines, macMatches, parseRecord, readAuditKey, readSavedHead, recordHash } from "./audit-log.ts";
export type AuditVerification =
  | {
      ok: true;
      records: number;
      /** The last record's hash. */
      head: string;
      /** Records at the start written before the key existed (no mac). */
      unkeyed: number;
      /** Whether the records' macs were checked: there were none, the key is here, or it is not. */
      macs: "none" | "verified" | "unchecked";
      /** The saved head it was held against (null: none is saved for this file). */
      saved: { readonly file: string; readonly records: number } | null;
      /** What an OK does not cover, in words. */
      notes: string[];
    }
  /** `line` is null for a problem no line of the log holds (its head, the log missing). */
  | { ok: false; records: number; line: number | null; problem: string };

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * Checks every record's own hash, that it follows the one before it (`prev`, `seq`), its mac
 * (when the key is here), that the file ends with a whole line, and the log against its saved
 * head: it must reach the head's record, with the head's hash there, and carry no more unkeyed
 * records than the head says. `records` counts the records verified before a problem. No saved
 * head (a copy of the log, or a config dir other than the one it was written with) is a note, not
 * a problem: whoever can delete the head can read the key beside it, so requiring it would only
 * fail honest set-ups. A key file that is not one throws an AuditLogError naming it.
 */
export function verifyAuditLog(file: string, options: { anchorDir?: string } = {}): AuditVerification {
  const anchorDir = options.anchorDir ?? auditAnchorDir();
  const key = readAuditKey(anchorDir);
  // The head before the log: the log is written first, so it is never behind a head read earlier.
  const saved = readSavedHead(file, anchorDir, key);
  const head = saved && !("problem" in saved) ? saved : null;
  const headFile = auditHeadPath(file, anchorDir);
  let records = 0;
  let unkeyed = 0;
  let prev = GENESIS;
  let line = 0;
  const broken = (at: number | null, problem: string) => ({ ok: false as const, records, line: at, problem });
  for (const { text, terminated } of existsSync(file) ? lines(file) : []) {
    line++;
    if (!terminated) return broken(line, "the last line is cut short (no newline at its end): the file was truncated or a write was interrupted");
    if (text.trim() === "") return broken(line, "an empty line where a record should be");
    const record = parseRecord(text);
    if (typeof record === "string") return broken(line, record);
    if (recordHash(record) !== record.hash) return broken(line, "the record does not match its hash: it was edited");
    if (record.prev !== prev) {
      return broken(
        line,
        line === 1
          ? "the first record does not start the chain (prev is not the genesis value): records before it were removed"
          : `the record does not follow line ${line - 1} (prev is not that record's hash): a record was dropped, inserted or moved here`,
      );
    }
    if (record.seq !== records + 1) return broken(line, `seq is ${record.seq}, expected ${records + 1}`);
    if (record.mac === undefined) {
      if (unkeyed < records)
        return broken(line, "the record carries no mac but records before it do: its mac was removed (only records written before the key existed may lack one)");
      if (head && record.seq > head.unkeyed) {
        return broken(
          line,
          `the record carries no mac but the log's head says only its first ${plural(head.unkeyed, "record")} were written before the key existed: its mac was removed`,
        );
      }
      unkeyed++;
    } else if (key && !macMatches(key, record.hash, record.mac)) {
      return broken(line, `the record's mac does not match the key (${auditKeyPath(anchorDir)}): the log was re-chained or written without that key`);
    }
    if (head && record.seq === head.records && record.hash !== head.hash) {
      return broken(line, `the record is not the one the log's head saved as record ${head.records}: the log was re-chained or replaced`);
    }
    prev = record.hash;
    records++;
  }
  if (saved && "problem" in saved) return broken(null, saved.problem);
  if (head && records < head.records) {
    const says = `its head says ${plural(head.records, "record")}`;
    if (records > 0) return broken(records + 1, `the log ends at record ${records} but ${says}: records were removed from the end, or the file replaced`);
    return broken(null, existsSync(file) ? `the log is empty but ${says}: it was emptied or replaced` : `the log is missing but ${says}: it was deleted or moved`);
  }
  const keyed = records - unkeyed;
  const notes: string[] = [];
  if (unkeyed > 0) notes.push(`${plural(unkeyed, "record")} at the start carry no mac (written before the key existed)`);
  if (keyed > 0 && !key) notes.push(`no key at ${auditKeyPath(anchorDir)} (another user's or machine's log?): the chain was checked, the macs were not`);
  if (head && records > head.records)
    notes.push(`${plural(records - head.records, "record")} after the saved head (appended after it was last saved: a write stopped between the log and its head)`);
  if (!head && records > 0) notes.push(`no saved head for this file (${headFile}): records removed from its end would not show`);
  return {
    ok: true,
    records,
    head: prev,
    unkeyed,
    macs: keyed === 0 ? "none" : key ? "verified" : "unchecked",
    saved: head && { file: headFile, records: head.records },
    notes,
  };
}
