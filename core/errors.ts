// Every failure IronClaw raises, as data: a tagged error whose `_tag` names the part that failed
// and whose `code` says what happened, with a one-line message that says what to fix. Code reads
// `code` (and `fatal`, `kind`, `status` where a part has them), never the message: a machine's
// transition, the CLI's exit code and the audit record all branch on data.
//
// The shape is Effect's `Data.TaggedError` (a `_tag` and the fields as properties, so Effect's
// `catchTag` matches them), built here in a few lines rather than imported: every command loads
// this module at start-up, and loading Effect's Data for it cost `ironclaw --version` about a
// third of its time (bench/against.mjs).

/** A tagged error class: `new (fields)` gives an Error with `_tag` and every field as a property. */
export interface TaggedErrorClass<Tag extends string> {
  new <A extends { readonly message: string }>(fields: A): Error & { readonly _tag: Tag } & Readonly<A>;
}

export function TaggedError<const Tag extends string>(tag: Tag): TaggedErrorClass<Tag> {
  return class extends Error {
    readonly _tag = tag;
    constructor(fields: { readonly message: string; readonly cause?: unknown }) {
      super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
      Object.assign(this, fields);
      this.name = tag;
    }
  } as TaggedErrorClass<Tag>;
}

/** What every error here carries, and what a machine keeps of a failure it was told about. */
export interface Failure {
  readonly code: string;
  readonly message: string;
  /** Trying again cannot help (a missing program, refused credentials): skip the retry schedule. */
  readonly fatal: boolean;
}

/** A failure from anything a machine invoked: ours carry a code; anything else is EFAILED. */
export function failureOf(error: unknown): Failure {
  const e = error as { code?: unknown; message?: unknown; fatal?: unknown } | null | undefined;
  return {
    code: typeof e?.code === "string" ? e.code : "EFAILED",
    message: typeof e?.message === "string" ? e.message : String(error),
    fatal: e?.fatal === true,
  };
}

type Options = { readonly cause?: unknown };
const withCause = <A extends object>(fields: A, options?: Options) => (options?.cause === undefined ? fields : { ...fields, cause: options.cause });

// ── sandboxes ────────────────────────────────────────────────────────────────────────────

export type SandboxErrorCode = "EBACKEND" | "EBOOT" | "ELIMITS" | "EAGENT";

/** A sandbox could not be made, booted or kept: the backend is missing, its boot failed, or its agent did not answer. */
export class SandboxError extends TaggedError("SandboxError")<{ readonly code: SandboxErrorCode; readonly message: string }> {
  constructor(code: SandboxErrorCode, message: string, options?: Options) {
    super(withCause({ code, message }, options));
  }
}

/** No block of user and group ids is free for another sandbox. */
export class IdBlockError extends TaggedError("IdBlockError")<{ readonly code: "ELIMITS"; readonly message: string }> {
  constructor(message: string) {
    super({ code: "ELIMITS", message });
  }
}

/** A directory that must be this user's alone is not (a symlink in its place, another owner). */
export class PrivateDirError extends TaggedError("PrivateDirError")<{ readonly code: "EPRIVATEDIR"; readonly message: string }> {
  constructor(message: string) {
    super({ code: "EPRIVATEDIR", message });
  }
}

/** The guest image could not be built. */
export class ImageBuildError extends TaggedError("ImageBuildError")<{ readonly code: "EIMAGE"; readonly message: string }> {
  constructor(message: string) {
    super({ code: "EIMAGE", message });
  }
}

/** QEMU's machine protocol refused a command or went away. */
export class QmpError extends TaggedError("QmpError")<{ readonly code: "EQMP"; readonly message: string }> {
  constructor(message: string) {
    super({ code: "EQMP", message });
  }
}

/** Firecracker's API answered a request with a fault; `status` is its HTTP status. */
export class FirecrackerApiError extends TaggedError("FirecrackerApiError")<{ readonly code: "EFIRECRACKER"; readonly status: number; readonly message: string }> {
  constructor(status: number, message: string) {
    super({ code: "EFIRECRACKER", status, message });
  }
}

// ── the guest ────────────────────────────────────────────────────────────────────────────

/** The guest agent refused a request, broke the protocol, or its channel closed. */
export class GuestError extends TaggedError("GuestError")<{ readonly code: string; readonly message: string }> {
  constructor(code: string, message: string) {
    super({ code, message });
  }
}

/** The guest's vsock port could not be reached before the deadline. */
export class VsockError extends TaggedError("VsockError")<{ readonly code: "EVSOCK"; readonly message: string }> {
  constructor(message: string) {
    super({ code: "EVSOCK", message });
  }
}

/** A command could not be run through the sandbox's statechart (not ready, torn down). */
export class VmJobError extends TaggedError("VmJobError")<{ readonly code: string; readonly message: string }> {
  constructor(code: string, message: string) {
    super({ code, message });
  }
}

// ── the session ──────────────────────────────────────────────────────────────────────────

/**
 * ENAME: a name no real directory holds, or one IronClaw will not write; ECAP: more than the
 * user's cap came back; EBASE: the host's file is not what the change applies to; ELINK: a link
 * or a non-directory on the way (never followed); EAPPLY: writing failed, and what was written
 * was rolled back.
 */
export type WorkspaceErrorCode = "ENAME" | "ECAP" | "EBASE" | "ELINK" | "EAPPLY";

export class WorkspaceError extends TaggedError("WorkspaceError")<{ readonly code: WorkspaceErrorCode; readonly message: string }> {
  constructor(code: WorkspaceErrorCode, message: string) {
    super({ code, message });
  }
}

/** A model provider's failure: `code` says whether it was the key, the quota, the network or the reply. */
export class ModelError extends TaggedError("ModelError")<{ readonly code: string; readonly message: string }> {
  constructor(code: string, message: string, options?: Options) {
    super(withCause({ code, message }, options));
  }
}

/** What stopped an append: the log, its head, the key, a lock, or the file system. */
export type AuditFailureKind = "log" | "head" | "key" | "locked" | "io";

/** An append to the audit log that did not happen. `code` is what a session ends on; `kind` says what to look at. */
export class AuditLogError extends TaggedError("AuditLogError")<{ readonly code: "EAUDIT"; readonly kind: AuditFailureKind; readonly message: string }> {
  constructor(kind: AuditFailureKind, message: string) {
    super({ code: "EAUDIT", kind, message });
  }
}

// ── MCP ──────────────────────────────────────────────────────────────────────────────────

/**
 * Why an MCP connection could not be made, and whether trying again could help: a missing
 * program, refused credentials or a protocol mismatch send the connection actor straight to
 * failed instead of through its reconnect schedule.
 */
export class McpConnectError extends TaggedError("McpConnectError")<{ readonly code: string; readonly message: string; readonly fatal: boolean }> {
  constructor(code: string, message: string, fatal: boolean) {
    super({ code, message, fatal });
  }
}

/** A tool call through the hub that could not be made: no such server, not connected, not ready in time. (The SDK's own is McpError.) */
export class McpHubError extends TaggedError("McpHubError")<{ readonly code: string; readonly message: string }> {
  constructor(code: string, message: string) {
    super({ code, message });
  }
}

// ── config and the command line ──────────────────────────────────────────────────────────

/** A config file (or the trust store, ETRUSTSTORE) that cannot be used as it is; the message names the file and the fix. */
export class SettingsError extends TaggedError("SettingsError")<{ readonly code: "ECONFIG" | "ETRUSTSTORE"; readonly message: string }> {
  constructor(message: string, code: "ECONFIG" | "ETRUSTSTORE" = "ECONFIG") {
    super({ code, message });
  }
}

/** Bad flags or arguments: nothing was started (exit `usage`). */
export class UsageError extends TaggedError("UsageError")<{ readonly code: "EUSAGE"; readonly message: string }> {
  constructor(message: string) {
    super({ code: "EUSAGE", message });
  }
}

/** The project's MCP servers would be needed, and the user has not trusted them (exit `untrusted`). */
export class UntrustedError extends TaggedError("UntrustedError")<{ readonly code: "EUNTRUSTED"; readonly message: string }> {
  constructor(message: string) {
    super({ code: "EUNTRUSTED", message });
  }
}

/** The daemon answered a request with an error (its code is the daemon's), or broke off. */
export class DaemonError extends TaggedError("DaemonError")<{ readonly code: string; readonly message: string }> {
  constructor(code: string, message: string) {
    super({ code, message });
  }
}

/** Another daemon holds the lock. */
export class DaemonLockedError extends TaggedError("DaemonLockedError")<{ readonly code: "ELOCKED"; readonly message: string }> {
  constructor(message: string) {
    super({ code: "ELOCKED", message });
  }
}

/** The inspector's server could not start or was asked something it will not do. */
export class InspectorServerError extends TaggedError("InspectorServerError")<{ readonly code: "EINSPECTOR"; readonly message: string }> {
  constructor(message: string) {
    super({ code: "EINSPECTOR", message });
  }
}
