// Exit codes of `ironclaw`, documented in docs/cli.md. A command's own exit code passes
// through unchanged; IronClaw's own outcomes use the codes `timeout` and `docker run` made familiar.
export const ExitCode = {
  ok: 0,
  /** Bad flags or arguments: nothing was started. */
  usage: 2,
  /** `status`, `pool` or `down` found no daemon running. */
  notRunning: 3,
  /** `mcp call`: the tool ran and reported an error (its isError result). */
  toolError: 1,
  /** `audit verify`: the audit log's hash chain is broken (sysexits' EX_DATAERR). */
  dataError: 65,
  /** An MCP server could not be reached, or its connection was lost (sysexits' EX_UNAVAILABLE). */
  mcpUnavailable: 69,
  /** The project's config declares MCP servers the user has not trusted (sysexits' EX_NOPERM): nothing of it was started. */
  untrusted: 77,
  /** The command ran past --timeout and was killed. */
  timeout: 124,
  /** The sandbox could not be created or failed (backend missing, boot failed, sandbox died). */
  sandboxFailure: 125,
  /** The command exists in the sandbox but could not be executed. */
  notExecutable: 126,
  /** The command was not found in the sandbox. */
  notFound: 127,
  /** 128 + n: the command was killed by signal n. */
  signalBase: 128,
  /** IronClaw was interrupted (Ctrl-C); the sandbox was torn down. */
  interrupted: 130,
  /** IronClaw was asked to terminate (SIGTERM); the sandbox was torn down. */
  terminated: 143,
} as const;
