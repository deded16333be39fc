// A classic-BPF interpreter for seccomp programs, written from the kernel's rules rather than
// from our compiler, so the tests run the filter's bytes the way the kernel would: the same
// struct sock_filter decoding, the same seccomp_data layout, and the checks the kernel makes
// before it accepts a program (bpf_check_classic and seccomp_check_filter).

export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  /** up to six 64-bit arguments; missing ones are 0 */
  args?: readonly bigint[];
}

const SECCOMP_DATA_SIZE = 64;
const BPF_MAXINSNS = 4096;

const BPF_LD = 0x00;
const BPF_ALU = 0x04;
const BPF_JMP = 0x05;
const BPF_RET = 0x06;
const BPF_W = 0x00;
const BPF_ABS = 0x20;
const BPF_K = 0x00;
const BPF_JA = 0x00;
const BPF_JEQ = 0x10;
const BPF_JGT = 0x20;
const BPF_JGE = 0x30;
const BPF_JSET = 0x40;
const BPF_AND = 0x50;

export function decode(bytes: Buffer): SockFilter[] {
  if (bytes.length % 8 !== 0) throw new Error(`a sock_filter array is a multiple of 8 bytes, got ${bytes.length}`);
  const out: SockFilter[] = [];
  for (let at = 0; at < bytes.length; at += 8) {
    out.push({ code: bytes.readUInt16LE(at), jt: bytes.readUInt8(at + 2), jf: bytes.readUInt8(at + 3), k: bytes.readUInt32LE(at + 4) });
  }
  return out;
}

/** What the kernel would refuse to load, as a list of reasons (empty when it would load). */
export function verify(program: readonly SockFilter[]): string[] {
  const problems: string[] = [];
  if (program.length === 0 || program.length > BPF_MAXINSNS) problems.push(`length ${program.length} outside 1..${BPF_MAXINSNS}`);
  program.forEach((insn, pc) => {
    const target = (offset: number) => pc + 1 + offset;
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (insn.k % 4 !== 0 || insn.k >= SECCOMP_DATA_SIZE) problems.push(`${pc}: load at ${insn.k} outside seccomp_data or unaligned`);
        break;
      case BPF_JMP | BPF_JA | BPF_K:
        if (target(insn.k) >= program.length) problems.push(`${pc}: ja past the end`);
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
      case BPF_JMP | BPF_JGT | BPF_K:
      case BPF_JMP | BPF_JGE | BPF_K:
      case BPF_JMP | BPF_JSET | BPF_K:
        if (target(insn.jt) >= program.length || target(insn.jf) >= program.length) problems.push(`${pc}: conditional jump past the end`);
        break;
      case BPF_ALU | BPF_AND | BPF_K:
      case BPF_RET | BPF_K:
        break;
      default:
        problems.push(`${pc}: opcode 0x${insn.code.toString(16)} is not one this interpreter knows`);
    }
  });
  const last = program[program.length - 1];
  if (last && last.code !== (BPF_RET | BPF_K)) problems.push("the program does not end with a return");
  return problems;
}

export function seccompData(data: SeccompData): Buffer {
  const buf = Buffer.alloc(SECCOMP_DATA_SIZE);
  buf.writeInt32LE(data.nr | 0, 0);
  buf.writeUInt32LE(data.arch >>> 0, 4);
  buf.writeBigUInt64LE(data.instructionPointer ?? 0n, 8);
  (data.args ?? []).forEach((arg, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, arg), 16 + 8 * i));
  return buf;
}

/** Runs a verified program on one system call and returns the 32-bit seccomp action. */
export function run(program: readonly SockFilter[], data: SeccompData): number {
  const problems = verify(program);
  if (problems.length) throw new Error(`the kernel would not load this program:\n${problems.join("\n")}`);
  const input = seccompData(data);
  let a = 0;
  let pc = 0;
  for (;;) {
    const insn = program[pc];
    if (!insn) throw new Error(`ran off the end at ${pc}`);
    pc += 1;
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        a = input.readUInt32LE(insn.k);
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        a = (a & insn.k) >>> 0;
        break;
      case BPF_JMP | BPF_JA | BPF_K:
        pc += insn.k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += a === insn.k ? insn.jt : insn.jf;
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        pc += a > insn.k ? insn.jt : insn.jf;
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc += a >= insn.k ? insn.jt : insn.jf;
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += (a & insn.k) !== 0 ? insn.jt : insn.jf;
        break;
      case BPF_RET | BPF_K:
        return insn.k >>> 0;
      default:
        throw new Error(`unknown opcode 0x${insn.code.toString(16)}`);
    }
  }
}

/** A seccomp return value in words: "allow", "kill_process", "errno 1", … */
export function describeAction(ret: number): string {
  const action = (ret & 0xffff0000) >>> 0;
  const data = ret & 0xffff;
  switch (action) {
    case 0x7fff0000:
      return "allow";
    case 0x80000000:
      return "kill_process";
    case 0x00000000:
      return "kill_thread";
    case 0x00030000:
      return `trap ${data}`;
    case 0x00050000:
      return `errno ${data}`;
    default:
      return `action 0x${action.toString(16)} data ${data}`;
  }
}
