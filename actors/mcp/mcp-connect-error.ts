// Why an MCP connection could not be made, and whether trying again could help: a missing
// program, refused credentials or a protocol mismatch send the connection actor straight to
// failed instead of through its reconnect schedule.
export class McpConnectError extends Error {
  readonly code: string;
  readonly fatal: boolean;

  constructor(code: string, message: string, fatal: boolean) {
    super(message);
    this.code = code;
    this.fatal = fatal;
    this.name = "McpConnectError";
  }
}
