// Ids that more than one module must agree on, each built (and, where one is read back, parsed)
// by one function: a machine names a child or a sandbox one way, and the reaper, the pool or
// the session finds it by the same name.

/** The sandbox (the vm child, and its record) of an agent session. */
export const sessionSandboxId = (sessionId: string): string => `${sessionId}-sandbox`;

/** The sandbox a pool slot's n-th refill is made under (and torn down by). */
export const slotSandboxId = (slotId: string, generation: number): string => `${slotId}-g${generation}`;

const POOL = "pool-";

/** The n-th pool slot (from 1) for a backend, as an orchestrator child. */
export const poolSlotId = (backend: string, n: number): string => `${POOL}${backend}-${n}`;

const MCP = "mcp.";

/** A session's child connection to the MCP server `server`. */
export const mcpChildId = (server: string): string => `${MCP}${server}`;

/** The server a session's child connection talks to, or null when `childId` is not one. */
export const mcpServerOfChild = (childId: string): string | null => (childId.startsWith(MCP) ? childId.slice(MCP.length) : null);
