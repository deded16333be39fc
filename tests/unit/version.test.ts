// The version IronClaw reports is the package's: `ironclaw --version` and the clientInfo every
// MCP server sees come from core/version.ts, which must follow package.json.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { VERSION } from "../../core/version.ts";
import { CLIENT_INFO } from "../../actors/mcp/mcp-session.ts";

it("reports package.json's version, to the user and to MCP servers", () => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as { version: string };
  expect(VERSION).toBe(pkg.version);
  expect(CLIENT_INFO).toEqual({ name: "ironclaw", version: pkg.version });
});
