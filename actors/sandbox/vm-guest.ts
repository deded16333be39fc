// A micro-VM sandbox's guest as the host sees it, the same for the qemu and firecracker
// drivers: its RAM (what the record was provisioned with, less the VMM's own share) and the
// last lines of its serial console, for error messages.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import type { SandboxRecord } from "./sandbox-driver.ts";

/** The guest's RAM in MiB: the record's memory less `overheadMiB`, the VMM's own (512 when the record names none). */
export function guestMemory(record: SandboxRecord, overheadMiB: number): number {
  return (record.limits?.memoryMiB ?? 512 + overheadMiB) - overheadMiB;
}

/**
 * The console log's last lines. The file may lie in a directory the VM owns, so it is opened as
 * a stranger's file: no link followed, no FIFO waited on, only its last 64 KiB read.
 */
export function consoleTail(file: string, lines = 5): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) return "";
    const size = Math.min(st.size, 64 * 1024);
    const buf = Buffer.alloc(size);
    readSync(fd, buf, 0, size, st.size - size);
    return buf.toString("utf8").trim().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
