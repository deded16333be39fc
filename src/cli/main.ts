// `ironclaw`: parses arguments and hands off to one command module, loaded lazily so that
// `--help` and a fast `exec` do not pay for what they do not use.
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { parseCpus } from "../cpu-limit.ts";
import { ExitCode } from "../../core/exit-codes.ts";
import { oneLine } from "../../core/terminal-text.ts";
import { VERSION } from "../../core/version.ts";
import { UntrustedError, UsageError } from "../../core/errors.ts";

function positiveNumber(what: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || n > max) throw new InvalidArgumentError(`${what} must be a number between 0 and ${max}, got "${value}"`);
    return n;
  };
}
function integerIn(what: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}, got "${value}"`);
    return n;
  };
}
function cpus(value: string): number {
  const parsed = parseCpus(value);
  if ("problem" in parsed) throw new InvalidArgumentError(`--cpus ${parsed.problem}, got "${value}"`);
  return parsed.cpus;
}
const CPUS_HELP = "CPU time the whole sandbox may use, in CPUs; fractions allowed (default: sandbox.cpus, all cores but one)";
function envPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError(`--env takes NAME=VALUE, got "${value}"`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

const program = new Command("ironclaw")
  .description("Run AI agent actions in throwaway sandboxes.")
  .version(VERSION, "-V, --version")
  .enablePositionalOptions()
  .showHelpAfterError(false)
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`ironclaw: ${text.replace(/^error: /, "").trim()}\n`) });

program
  .command("exec")
  .description("run a command in a fresh sandbox, stream its output, and destroy the sandbox")
  .argument("<command...>", "the command and its arguments (put them after --)")
  .addOption(new Option("-b, --backend <name>", "sandbox backend (default: the strongest that works here at hardware speed)"))
  .option("-t, --timeout <seconds>", "kill the command after this many seconds (exit 124)", positiveNumber("--timeout", 7 * 24 * 3600), 3600)
  .option("-m, --memory <MiB>", "memory limit of the whole sandbox", integerIn("--memory", 64, 1024 * 1024), 512)
  .option("--pids <n>", "most processes and threads the sandbox may have", integerIn("--pids", 16, 1 << 22), 256)
  .option("--cpus <n>", CPUS_HELP, cpus)
  .option("-e, --env <NAME=VALUE>", "set an environment variable in the sandbox (repeatable)", envPair)
  .option("-w, --cwd <dir>", "working directory inside the sandbox", "/")
  .option("-i, --stdin", "pass IronClaw's standard input to the command", false)
  .option("--output-cap <bytes>", "most stdout+stderr bytes kept; the rest is cut with a notice", integerIn("--output-cap", 1, 1 << 30))
  .option("--json", "print one JSON object with the result instead of streaming", false)
  .option("--no-daemon", "run in this process even when a daemon is up")
  .option("--inspect", "watch the sandbox's actors live in the inspector (prints its URL)", false)
  .option("-v, --verbose", "human-readable logs on stderr", false)
  .passThroughOptions()
  .action(async (command: string[], opts, cmd: Command) => {
    const { runExec } = await import("./exec.command.ts");
    const limitsExplicit = ["memory", "pids"].some((o) => cmd.getOptionValueSource(o) === "cli");
    process.exitCode = await runExec(command, { ...opts, limitsExplicit });
  });

program
  .command("up")
  .description("start the daemon: one long-lived orchestrator with a pool of ready sandboxes, on a Unix socket")
  .addOption(new Option("-b, --backend <name>", "backend of the pool and default of exec (default: the strongest that works here at hardware speed)"))
  .option("--foreground", "run the daemon in this process instead of in the background", false)
  .option("--inspect", "report to the running `ironclaw inspect`, or serve an inspector (its URL is printed)", false)
  .option("--json", "print JSON", false)
  .option("-v, --verbose", "human-readable logs on stderr (with --foreground)", false)
  // How `up` tells the daemon it starts in the background that the user declined the project's MCP servers.
  .addOption(new Option("--without-project-servers").hideHelp())
  .action(async (opts) => {
    const { runUp } = await import("./daemon.command.ts");
    process.exitCode = await runUp(opts);
  });

program
  .command("down")
  .description("stop the daemon and destroy every sandbox it has")
  .option("--json", "print JSON", false)
  .action(async (opts) => {
    const { runDown } = await import("./daemon.command.ts");
    process.exitCode = await runDown(opts);
  });

program
  .command("status")
  .description("show the daemon's actors and pool (exit 3 when no daemon runs)")
  .option("--json", "print JSON", false)
  .action(async (opts) => {
    const { runStatus } = await import("./daemon.command.ts");
    process.exitCode = await runStatus(opts);
  });

const pool = program.command("pool").description("the daemon's pool of ready sandboxes");
pool
  .command("warm")
  .description("fill the pool (default: IRONCLAW_POOL_SIZE slots of the daemon's backend)")
  .addOption(new Option("-b, --backend <name>", "backend to warm"))
  .option("-n, --size <slots>", "number of slots (1 to 20)", integerIn("--size", 1, 20))
  .option("--wait", "return once every slot is ready", false)
  .option("--json", "print JSON", false)
  .action(async (opts) => {
    const { runPoolWarm } = await import("./pool.command.ts");
    process.exitCode = await runPoolWarm(opts);
  });
pool
  .command("stats")
  .description("slots and their states")
  .option("--json", "print JSON", false)
  .action(async (opts) => {
    const { runPoolStats } = await import("./pool.command.ts");
    process.exitCode = await runPoolStats(opts);
  });

program
  .command("run")
  .description("run an agent on a task: it works in a sandbox on a copy of this directory; what reaches outside waits for your approval")
  .argument("<task>", "what the agent should do, in words")
  .option("--model <provider:name>", "the model, e.g. ollama:llama3.2, openai:gpt-4o-mini, anthropic:claude-sonnet-4-6 (docs/models.md)")
  .option("--script <file>", "play back a file of model turns instead of a model (offline; docs/models.md)")
  .option("--approve <mode>", "ask (default on a terminal), deny (default otherwise), or auto-green: what happens to actions that need approval")
  .addOption(new Option("-b, --backend <name>", "sandbox backend (default: the strongest that works here at hardware speed)"))
  .option("--max-steps <n>", "most model turns", integerIn("--max-steps", 1, 10_000), 30)
  .option("--max-tokens <n>", "most tokens, input and output", integerIn("--max-tokens", 100, 100_000_000), 200_000)
  .option("--max-minutes <n>", "most wall time", positiveNumber("--max-minutes", 24 * 60), 30)
  .option("--cpus <n>", CPUS_HELP, cpus)
  .option("--json", "print one JSON object with the outcome", false)
  .option("--inspect", "watch the session live in the inspector, and answer approvals there (prints its URL)", false)
  .option("-v, --verbose", "human-readable logs, including every actor's state changes, on stderr", false)
  .action(async (task: string, opts) => {
    const { runRun } = await import("./run.command.ts");
    process.exitCode = await runRun(task, opts);
  });

program
  .command("inspect")
  .description("serve the live statechart inspector on 127.0.0.1 (token in the printed URL) until Ctrl-C; the daemon and --inspect runs report to it")
  .option("-p, --port <port>", "port to listen on (default: any free one)", integerIn("--port", 0, 65535))
  .option("--json", "print JSON", false)
  .action(async (opts) => {
    const { runInspect } = await import("./inspect.command.ts");
    process.exitCode = await runInspect(opts);
  });

const mcp = program.command("mcp").description("the configured MCP servers (mcpServers in .ironclaw/config.json or ~/.config/ironclaw/config.json)");
mcp
  .command("list")
  .description("connect to every configured server and show its state and tool count (the daemon's connections when one runs for this project)")
  .option("--json", "print JSON", false)
  .option("--no-daemon", "connect in this process even when a daemon for this project is up")
  .option("-v, --verbose", "log every state change of every actor to stderr", false)
  .action(async (opts) => {
    const { runMcpList } = await import("./mcp.command.ts");
    process.exitCode = await runMcpList(opts);
  });
mcp
  .command("tools")
  .description("list a server's tools")
  .argument("<server>", "a server name from mcpServers")
  .option("--json", "print JSON (the tools as the server describes them)", false)
  .option("--no-daemon", "connect in this process even when a daemon for this project is up")
  .option("-v, --verbose", "log every state change of every actor to stderr", false)
  .action(async (server: string, opts) => {
    const { runMcpTools } = await import("./mcp.command.ts");
    process.exitCode = await runMcpTools(server, opts);
  });
mcp
  .command("call")
  .description("call one tool and print its result (progress goes to stderr)")
  .argument("<server>", "a server name from mcpServers")
  .argument("<tool>", "a tool name from `ironclaw mcp tools SERVER`")
  .option("--args <json>", "the tool's arguments as a JSON object", "{}")
  .option("--timeout <seconds>", "give up on the call after this long (default: the server's timeoutSecs, 60)", positiveNumber("--timeout", 24 * 3600))
  .option("--json", "print the tool's result as JSON", false)
  .option("--no-daemon", "connect in this process even when a daemon for this project is up")
  .option("-v, --verbose", "log every state change of every actor to stderr", false)
  .action(async (server: string, tool: string, opts) => {
    const { runMcpCall } = await import("./mcp.command.ts");
    process.exitCode = await runMcpCall(server, tool, opts);
  });
mcp
  .command("conformance-client")
  .description("run one scenario of the official MCP conformance suite (the harness sets MCP_CONFORMANCE_SCENARIO)")
  .argument("<url>", "the scenario server's URL")
  .option("-v, --verbose", "log every state change of every actor to stderr", false)
  .action(async (url: string, opts) => {
    const { runMcpConformanceClient } = await import("./mcp-conformance.command.ts");
    process.exitCode = await runMcpConformanceClient(url, opts);
  });

program
  .command("trust")
  .description("review the MCP servers this project's .ironclaw/config.json declares and trust that exact file to start them")
  .argument("[dir]", "the project (default: this directory)")
  .option("-y, --yes", "trust without asking (you have reviewed the config)", false)
  .option("--revoke", "forget the project: its servers ask again before they start", false)
  .option("--list", "list the trusted projects", false)
  .option("--json", "print JSON (never asks: with --yes it trusts, without it only reports)", false)
  .action(async (dir: string | undefined, opts) => {
    const { runTrust } = await import("./trust.command.ts");
    process.exitCode = await runTrust(dir, opts);
  });

const image = program.command("image").description("the micro-VM guest image (kernel, initramfs, read-only root)");
image
  .command("build")
  .description("build the guest image from Debian packages, without root, into the image cache")
  .option("--force", "rebuild even if an image from the same inputs exists", false)
  .option("--json", "print JSON", false)
  .action(async (opts) => {
    const { runImageBuild } = await import("./image.command.ts");
    process.exitCode = await runImageBuild(opts);
  });
image
  .command("ls")
  .description("list built images (* marks the one this build of IronClaw boots)")
  .option("--json", "print JSON", false)
  .action(async (opts) => {
    const { runImageLs } = await import("./image.command.ts");
    process.exitCode = runImageLs(opts);
  });
image
  .command("prune")
  .description("remove every image but the one this version of IronClaw boots, with their VM snapshots")
  .option("--json", "print JSON", false)
  .action(async (opts) => {
    const { runImagePrune } = await import("./image.command.ts");
    process.exitCode = runImagePrune(opts);
  });
image
  .command("rm")
  .description("remove images")
  .argument("[ids...]", "image ids from `ironclaw image ls`")
  .option("--all", "remove every image", false)
  .option("--json", "print JSON", false)
  .action(async (ids: string[], opts) => {
    const { runImageRm } = await import("./image.command.ts");
    process.exitCode = runImageRm(ids, opts);
  });

const audit = program.command("audit").description("the audit log of every decision on an agent's action (docs/approvals.md)");
audit
  .command("verify")
  .description("check the audit log's chain, its keyed macs and its saved head: exit 0 when whole, 65 naming what is broken (a line, or records missing from the end)")
  .argument("[file]", "the log to check (default: $XDG_STATE_HOME/ironclaw/audit.jsonl)")
  .option("--json", "print JSON", false)
  .action(async (file: string | undefined, opts) => {
    const { runAuditVerify } = await import("./audit.command.ts");
    process.exitCode = runAuditVerify(file, opts);
  });

program
  .command("doctor")
  .description("probe each sandbox backend with a real sandbox and report which work here, and why not")
  .option("--json", "print JSON", false)
  .option("-v, --verbose", "human-readable logs on stderr", false)
  .action(async (opts) => {
    const { runDoctor } = await import("./doctor.command.ts");
    process.exitCode = await runDoctor(opts);
  });

// A reader that goes away (`| head`) is not an error of ours: stop writing, finish in order.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
  });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are successes; everything else commander rejects is a usage error.
    process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else if (err instanceof UsageError) {
    process.stderr.write(`ironclaw: ${oneLine(err.message)}\n`);
    process.exitCode = ExitCode.usage;
  } else if (err instanceof UntrustedError) {
    process.stderr.write(`ironclaw: ${oneLine(err.message)}\n`);
    process.exitCode = ExitCode.untrusted;
  } else {
    // An error's message may carry a server's or a sandbox's words: one line, escapes visible.
    process.stderr.write(`ironclaw: ${oneLine((err as Error).message)}\n`);
    process.exitCode = ExitCode.sandboxFailure;
  }
}
