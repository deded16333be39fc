// The one module that makes and opens MCP session handles (core/handles.ts): the connection
// machine holds a session only as a handle, and the connection's actors open it here.
import type { McpSessionHandle } from "../../core/handles.ts";
import type { McpSession } from "./mcp-session.ts";

export const sessionHandle = (session: McpSession): McpSessionHandle => session as unknown as McpSessionHandle;

export const sessionOf = (handle: McpSessionHandle): McpSession => handle as unknown as McpSession;

/** The sandbox a session's server runs in (a sandboxed stdio server's), while it exists: what the reaper removes. */
export const sessionSandboxId = (handle: McpSessionHandle | null): string | null => (handle ? sessionOf(handle).sandboxId() : null);
