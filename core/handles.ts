// Opaque handles: what a machine holds for a live thing only its owner in actors/ may open (a
// booted sandbox, an MCP client session). Branded, so nothing else can make one or read into
// one without a cast; each kind is made and opened in one module of its owner
// (actors/sandbox/sandbox-handle.ts, actors/mcp/session-handle.ts), the only casts there are.
// What src/ may know of a sandbox travels beside its handle as plain data (BootedSandbox).

declare const brand: unique symbol;
type Handle<Kind extends string> = { readonly [brand]: Kind };

/** A booted sandbox: the lease on it, which its holder releases when done. */
export type SandboxHandle = Handle<"sandbox">;
/** A sandbox provisioned (recorded, its host resources made) but not booted yet. */
export type RecordHandle = Handle<"record">;
/** A connected MCP client session. */
export type McpSessionHandle = Handle<"mcp-session">;

/** A booted sandbox as machines and src/ hold it: the handle, and what anyone may read about it. */
export interface BootedSandbox {
  readonly handle: SandboxHandle;
  /** The id its record is stored under, which the reaper destroys by. */
  readonly id: string;
  /** One line a user can read: the isolation in force, with which limits. */
  readonly isolation: string;
}
