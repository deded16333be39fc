// Elicitation requests from MCP servers, asked at the terminal — the channel approvals use
// too. Each field of the requested schema is asked in turn, showing its default (Enter keeps
// it; the SDK fills in defaults for fields left empty); the user then sends, declines or
// cancels. Without a terminal nobody can answer: the request is declined, and the user is told.
// Everything the server wrote (its message, field titles, choices, defaults) is shown on one
// line with escapes visible, and every prompt line names the server it comes from, so a server
// cannot draw a question that looks like IronClaw's own (an "ironclaw: token" prompt).
import { createInterface } from "node:readline/promises";
import type { ElicitRequest, ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { foldLine, oneLine, TERMINAL_RESET, terminalColumns } from "../../core/terminal-text.ts";
import { discardTypeahead, say } from "./cli-io.ts";

type Field = { type?: string; title?: string; description?: string; default?: unknown; enum?: unknown[]; oneOf?: Array<{ const: unknown; title?: string }> };

function parse(field: Field, answer: string): unknown {
  if (field.type === "integer" || field.type === "number") {
    const n = Number(answer);
    if (!Number.isFinite(n) || (field.type === "integer" && !Number.isInteger(n))) throw new Error(`expected ${field.type === "integer" ? "a whole number" : "a number"}`);
    return n;
  }
  if (field.type === "boolean") {
    if (/^(y|yes|true)$/i.test(answer)) return true;
    if (/^(n|no|false)$/i.test(answer)) return false;
    throw new Error("expected yes or no");
  }
  const choices = field.enum ?? field.oneOf?.map((o) => o.const);
  if (choices && !choices.map(String).includes(answer)) throw new Error(`expected one of ${oneLine(choices.join(", "))}`);
  return answer;
}

export async function elicitAtTerminal(server: string, params: ElicitRequest["params"]): Promise<ElicitResult> {
  if (!process.stdin.isTTY || !("requestedSchema" in params)) {
    say(
      `MCP server ${server} asked for input (${JSON.stringify(params.message)}); declined: ${process.stdin.isTTY ? "it asks for a URL visit, not supported yet" : "not an interactive terminal"}`,
    );
    return { action: "decline" };
  }
  await discardTypeahead(); // an Enter pressed before the question was shown answers nothing
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  rl.on("SIGINT", () => process.kill(process.pid, "SIGINT"));
  const columns = terminalColumns(process.stderr);
  const fold = (line: string) => (columns ? foldLine(line, columns, "  ↳ ") : line);
  try {
    const from = `[${oneLine(server)}]`;
    process.stderr.write(`${TERMINAL_RESET}\n${fold(`ironclaw: MCP server ${oneLine(server)} asks for input; its message, quoted: ${oneLine(JSON.stringify(params.message))}`)}\n`);
    const properties = (params.requestedSchema.properties ?? {}) as Record<string, Field>;
    const required = new Set((params.requestedSchema.required as string[] | undefined) ?? []);
    const content: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(properties)) {
      const choices = field.enum ?? field.oneOf?.map((o) => o.const);
      const hint = [choices && `one of ${choices.join(", ")}`, field.default !== undefined && `default ${JSON.stringify(field.default)}`].filter(Boolean).join("; ");
      const label = oneLine(`${field.title ?? name}${required.has(name) ? " *" : ""}${hint ? ` (${hint})` : ""}`);
      for (;;) {
        const answer = (await rl.question(fold(`  ${from} ${label}: `))).trim();
        if (answer === "") {
          if (required.has(name) && field.default === undefined) {
            process.stderr.write("    required\n");
            continue;
          }
          break; // the default (if any) is applied by the SDK
        }
        try {
          content[name] = parse(field, answer);
          break;
        } catch (err) {
          process.stderr.write(`    ${(err as Error).message}\n`);
        }
      }
    }
    const send = (await rl.question(`ironclaw: send this to MCP server ${oneLine(server)}? [y]es / [n]o (decline) / [c]ancel: `)).trim().toLowerCase();
    if (send === "y" || send === "yes") return { action: "accept", content: content as Record<string, string | number | boolean | string[]> };
    return { action: send === "c" || send === "cancel" ? "cancel" : "decline" };
  } finally {
    rl.close();
  }
}
