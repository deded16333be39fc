// How a diff card reaches the person who must approve it. The card is drawn after a terminal
// reset (core/terminal-text.ts: nothing written before it, by anyone, can leave the terminal in a
// state that hides or repaints it), and a card longer than the screen goes through a pager, as
// git does with a long diff: the summary at its top is never scrolled away before it is read.
import { spawn } from "node:child_process";
import { TERMINAL_RESET } from "../../core/terminal-text.ts";

/** The pager command line: IRONCLAW_PAGER, then PAGER, then `less`; empty or `cat` means none. */
function pagerCommand(env: NodeJS.ProcessEnv): string | null {
  const command = (env.IRONCLAW_PAGER ?? env.PAGER ?? "less").trim();
  return command === "" || command === "cat" ? null : command;
}

/**
 * Writes `text` (a rendered card, already escaped) to stderr. With `page` on a terminal whose
 * height is known, a card taller than the screen is piped to the user's pager (run by `sh -c`,
 * as git runs $PAGER: it is the user's own setting; LESS defaults to FRX: quit at the end, keep
 * IronClaw's colours, leave the card on the screen). Resolves once the pager has exited.
 */
export function showCard(text: string, options: { page: boolean }): Promise<void> {
  const terminal = Boolean(process.stderr.isTTY);
  const body = `${terminal ? TERMINAL_RESET : ""}\n${text}\n`;
  const rows = terminal ? process.stderr.rows : 0;
  const lines = body.split("\n").length;
  const pager = options.page && rows > 0 && lines > rows - 2 ? pagerCommand(process.env) : null;
  if (!pager) {
    process.stderr.write(body);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", pager], { stdio: ["pipe", process.stderr, process.stderr], env: { ...process.env, LESS: process.env.LESS ?? "FRX" } });
    let fellBack = false;
    const fallBack = () => {
      if (fellBack) return;
      fellBack = true;
      process.stderr.write(body);
    };
    child.on("error", () => {
      fallBack();
      resolve();
    });
    // A pager quit early (q) stops reading: that is the user's choice, not an error.
    child.stdin.on("error", () => {});
    child.stdin.end(body);
    child.on("close", (code) => {
      // A pager that could not run (`sh: 1: most: not found`) shows nothing: show it ourselves.
      if (code === 127) fallBack();
      resolve();
    });
  });
}
