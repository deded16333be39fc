// Compiles actors/sandbox/seccomp-policy.ts into the classic BPF program bubblewrap loads with
// `--seccomp FD`: an array of struct sock_filter { u16 code; u8 jt; u8 jf; u32 k }, written in
// the host's (little-endian) byte order, as bwrap reads it from the fd and hands it to the kernel.
//
// The layout keeps every jump short whatever the length of the policy: each refused call is a
// test that skips one instruction or falls into its own return, and each call with argument
// rules is one block that ends in its own return, so no jump ever spans the list. The kernel
// caps offsets at 255 and programs at 4096 instructions; both are checked here.
import { ARGUMENT_RULES, REFUSED, type ArgumentRule, type Errno } from "./seccomp-policy.ts";
import { SYSCALL_NUMBERS, type SyscallTable } from "./syscall-numbers.ts";

export type SeccompArch = "x64" | "arm64";

// linux/audit.h: EM_X86_64 and EM_AARCH64 with __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
const AUDIT_ARCH: Record<SeccompArch, number> = { x64: 0xc000003e, arm64: 0xc00000b7 };
const X32_SYSCALL_BIT = 0x40000000;

// linux/bpf_common.h: class | size | mode, class | op | source
const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGT_K = 0x25;
const BPF_JMP_JSET_K = 0x45;
const BPF_RET_K = 0x06;

// linux/seccomp.h
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const ERRNO: Record<Errno, number> = { EPERM: 1, ENOSYS: 38 };

// struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
/** The low word of an argument: the data is in the host's byte order, little-endian on both arches. */
const argLow = (i: number): number => 16 + 8 * i;

const MAX_JUMP = 255;
const BPF_MAXINSNS = 4096;

interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const load = (offset: number): Instruction => ({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: offset });
const ret = (k: number): Instruction => ({ code: BPF_RET_K, jt: 0, jf: 0, k });
const refuse = (errno: Errno): Instruction => ret(SECCOMP_RET_ERRNO | ERRNO[errno]);
function jump(code: number, k: number, jt: number, jf: number): Instruction {
  if (jt > MAX_JUMP || jf > MAX_JUMP) throw new Error(`seccomp: a jump of ${Math.max(jt, jf)} instructions does not fit the 8-bit offset`);
  return { code, jt, jf, k: k >>> 0 };
}

/** The instructions that refuse one call when its argument matches, then fall through. */
function argumentTest(rule: ArgumentRule): Instruction[] {
  const test = rule.refuseWhen;
  const out = [load(argLow(rule.arg))];
  if ("anyBitOf" in test) {
    out.push(jump(BPF_JMP_JSET_K, test.anyBitOf, 0, 1), refuse(rule.errno));
  } else if ("oneOf" in test) {
    for (const value of test.oneOf) out.push(jump(BPF_JMP_JEQ_K, value, 0, 1), refuse(rule.errno));
  } else {
    // Each allowed value jumps over the remaining tests and the refusal.
    test.noneOf.forEach((value, i) => out.push(jump(BPF_JMP_JEQ_K, value, test.noneOf.length - i, 0)));
    out.push(refuse(rule.errno));
  }
  return out;
}

function checkPolicy(): void {
  const seen = new Set<string>();
  for (const name of REFUSED.flatMap((g) => g.syscalls)) {
    if (seen.has(name)) throw new Error(`seccomp policy: ${name} is listed twice`);
    seen.add(name);
  }
  for (const rule of ARGUMENT_RULES) {
    if (seen.has(rule.syscall)) throw new Error(`seccomp policy: ${rule.syscall} is refused outright and has an argument rule`);
    if (!Number.isInteger(rule.arg) || rule.arg < 0 || rule.arg > 5) throw new Error(`seccomp policy: ${rule.syscall} has no argument ${rule.arg}`);
  }
}

function compile(arch: SeccompArch): Instruction[] {
  checkPolicy();
  const table: SyscallTable = SYSCALL_NUMBERS[arch];
  const horizon = Math.max(...Object.values(table));
  const program: Instruction[] = [load(OFFSET_ARCH), jump(BPF_JMP_JEQ_K, AUDIT_ARCH[arch], 1, 0), ret(SECCOMP_RET_KILL_PROCESS), load(OFFSET_NR)];
  // x32 calls share the x86_64 arch value and carry this bit in nr.
  if (arch === "x64") program.push(jump(BPF_JMP_JSET_K, X32_SYSCALL_BIT, 0, 1), refuse("EPERM"));
  program.push(jump(BPF_JMP_JGT_K, horizon, 0, 1), refuse("ENOSYS"));

  // From here on the accumulator holds nr outside the argument blocks, which end in a return.
  for (const group of REFUSED) {
    for (const name of group.syscalls) {
      const nr = table[name];
      if (nr === undefined) continue; // not a call of this architecture
      program.push(jump(BPF_JMP_JEQ_K, nr, 0, 1), refuse(group.errno));
    }
  }
  const ruled = [...new Set(ARGUMENT_RULES.map((r) => r.syscall))];
  for (const name of ruled) {
    const nr = table[name];
    if (nr === undefined) continue;
    const block = ARGUMENT_RULES.filter((r) => r.syscall === name).flatMap(argumentTest);
    block.push(ret(SECCOMP_RET_ALLOW));
    program.push(jump(BPF_JMP_JEQ_K, nr, 0, block.length), ...block);
  }
  program.push(ret(SECCOMP_RET_ALLOW));
  if (program.length > BPF_MAXINSNS) throw new Error(`seccomp: ${program.length} instructions, over the kernel's ${BPF_MAXINSNS}`);
  return program;
}

function hostArch(): SeccompArch {
  if (process.arch === "x64" || process.arch === "arm64") return process.arch;
  throw new Error(`seccomp: no filter for ${process.arch}; the namespace backend supports x64 and arm64`);
}

/** The filter for bubblewrap's `--seccomp FD`, as the bytes to write to that fd. */
export function seccompProgram(arch: SeccompArch = hostArch()): Buffer {
  const program = compile(arch);
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    bytes.writeUInt16LE(insn.code, i * 8);
    bytes.writeUInt8(insn.jt, i * 8 + 2);
    bytes.writeUInt8(insn.jf, i * 8 + 3);
    bytes.writeUInt32LE(insn.k, i * 8 + 4);
  });
  return bytes;
}
