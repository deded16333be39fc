// Errors are data: each has a tag naming its part and a code, carries its fields as properties
// (what a machine, the CLI's exit code or a --json reply reads), and is still an Error with its
// message, name, stack and cause for logs. failureOf reads any thrown value into that shape.
import { describe, expect, it } from "vitest";
import { AuditLogError, failureOf, McpConnectError, SandboxError, SettingsError, UsageError } from "../../core/errors.ts";

describe("tagged errors", () => {
  it("carry their tag, code and fields as data, and stay Errors", () => {
    const cause = new Error("ENOENT: bwrap");
    const e = new SandboxError("EBACKEND", "bubblewrap is not installed: apt install bubblewrap", { cause });
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(SandboxError);
    expect(e).not.toBeInstanceOf(UsageError);
    expect({ _tag: e._tag, code: e.code, message: e.message, name: e.name, cause: e.cause }).toEqual({
      _tag: "SandboxError",
      code: "EBACKEND",
      message: "bubblewrap is not installed: apt install bubblewrap",
      name: "SandboxError",
      cause,
    });
    expect(String(e)).toBe("SandboxError: bubblewrap is not installed: apt install bubblewrap");
    expect(e.stack).toMatch(/^SandboxError: bubblewrap/);
    expect(JSON.parse(JSON.stringify(e))).toMatchObject({ _tag: "SandboxError", code: "EBACKEND" });
  });

  it("give every error a code, including those built from a message alone", () => {
    expect(new UsageError("unknown backend").code).toBe("EUSAGE");
    expect(new SettingsError("bad config").code).toBe("ECONFIG");
    expect(new SettingsError("bad store", "ETRUSTSTORE").code).toBe("ETRUSTSTORE");
    expect(new AuditLogError("locked", "held by pid 1")).toMatchObject({ code: "EAUDIT", kind: "locked" });
  });
});

describe("failureOf", () => {
  it("reads code, message and fatal from ours, and EFAILED from anything else", () => {
    expect(failureOf(new McpConnectError("EAUTH", "refused", true))).toEqual({ code: "EAUTH", message: "refused", fatal: true });
    expect(failureOf(new SandboxError("EBOOT", "no hello"))).toEqual({ code: "EBOOT", message: "no hello", fatal: false });
    expect(failureOf(new TypeError("x is undefined"))).toEqual({ code: "EFAILED", message: "x is undefined", fatal: false });
    expect(failureOf("a string")).toEqual({ code: "EFAILED", message: "a string", fatal: false });
    expect(failureOf(undefined)).toEqual({ code: "EFAILED", message: "undefined", fatal: false });
  });
});
