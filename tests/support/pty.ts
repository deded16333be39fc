// A command run under a real pseudo-terminal (util-linux `script`), answering its questions as a
// person would: each time `prompt` appears anew in the output, the next answer is typed, and
// Ctrl-C (the terminal's interrupt character: the kernel signals the foreground process) once the
// output matches `interruptAt`. The output is the terminal's byte stream (stdout and stderr
// together), escape sequences and all, so a test can see exactly what a terminal was told to do.
// A test that ends (or times out) with the command still running has it terminated, sandboxes
// and all, rather than left behind.
import { spawn } from "node:child_process";
import { onTestFinished } from "vitest";
import type { Run } from "./cli.ts";

const quote = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;

export interface TerminalOptions {
  readonly cwd?: string;
  readonly env: NodeJS.ProcessEnv;
  /** Typed in order, one per appearance of `prompt`. */
  readonly answers?: readonly string[];
  readonly prompt?: RegExp;
  /** The terminal's size (`stty`); unset, the terminal reports none. */
  readonly rows?: number;
  readonly columns?: number;
  /** Type Ctrl-C once the output matches this. */
  readonly interruptAt?: RegExp;
}

export function atTerminal(argv: readonly string[], options: TerminalOptions): Promise<Run> {
  return new Promise((resolve) => {
    const size = options.rows ? `stty rows ${options.rows} cols ${options.columns ?? 80}; ` : "";
    const command = `${size}exec ${argv.map(quote).join(" ")}`;
    // Its own process group, so the whole of it (script, the CLI) can be signalled at the end.
    const child = spawn("script", ["-qec", command, "/dev/null"], { cwd: options.cwd, env: options.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
    let running = true;
    onTestFinished(() => {
      if (running && child.pid !== undefined) process.kill(-child.pid, "SIGTERM");
    });
    const prompt = options.prompt ?? /\[y\/N\]/g;
    const answers = [...(options.answers ?? [])];
    let stdout = "";
    let asked = 0;
    let interrupted = false;
    child.stdout.on("data", (d) => {
      stdout += d;
      if (options.interruptAt && !interrupted && options.interruptAt.test(stdout)) {
        interrupted = true;
        child.stdin.write("\x03");
      }
      const seen = stdout.match(new RegExp(prompt.source, "g"))?.length ?? 0;
      while (asked < seen && answers.length > 0) {
        asked++;
        child.stdin.write(answers.shift()!);
      }
    });
    child.on("close", (code, signal) => {
      running = false;
      resolve({ code, signal, stdout, stderr: "" });
    });
  });
}
