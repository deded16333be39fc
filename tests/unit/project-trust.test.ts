// The trust store: trust is given to a project's real path and its config's exact bytes, kept
// in the user's state (0600 in a 0700 directory), replaced atomically, and a store that cannot
// be read is an error naming it, never "nothing is trusted" nor "everything is".
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { configSha256, grantTrust, isTrusted, listTrusted, revokeTrust, trustOf, trustStoreFile } from "../../src/config/project-trust.ts";
import { SettingsError } from "../../core/errors.ts";

const roots: string[] = [];
function setUp() {
  const root = mkdtempSync(join(tmpdir(), "ironclaw-trust-"));
  roots.push(root);
  const project = join(root, "project");
  mkdirSync(project);
  return { root, project, store: join(root, "state", "trust", "trusted-projects.json") };
}
afterEach(() => roots.splice(0).forEach((r) => rmSync(r, { recursive: true, force: true })));

const A = configSha256(Buffer.from('{"mcpServers":{}}'));
const B = configSha256(Buffer.from('{"mcpServers":{} }'));

describe("project trust store", () => {
  it("trusts one exact config per project, by real path, until revoked", () => {
    const { root, project, store } = setUp();
    expect(listTrusted(store)).toEqual([]);
    expect(isTrusted(project, A, store)).toBe(false);
    const entry = grantTrust(project, A, store);
    expect(entry).toMatchObject({ dir: project, sha256: A });
    expect(isTrusted(project, A, store)).toBe(true);
    // One byte different is another config.
    expect(A).not.toBe(B);
    expect(isTrusted(project, B, store)).toBe(false);
    // A symlink or `..` reaches the same project.
    symlinkSync(project, join(root, "link"));
    expect(isTrusted(join(root, "link"), A, store)).toBe(true);
    expect(isTrusted(join(project, "..", "project"), A, store)).toBe(true);
    // Trusting the new config replaces the old one.
    grantTrust(project, B, store);
    expect(listTrusted(store).map((p) => p.sha256)).toEqual([B]);
    expect(trustOf(project, store)?.sha256).toBe(B);
    expect(revokeTrust(project, store)).toBe(true);
    expect(revokeTrust(project, store)).toBe(false);
    expect(isTrusted(project, B, store)).toBe(false);
  });

  it("keeps the store owner-only, written whole: no temp file is left beside it", () => {
    const { root, project, store } = setUp();
    grantTrust(project, A, store);
    grantTrust(join(root), B, store);
    expect(statSync(store).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, "state", "trust")).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(root, "state", "trust"))).toEqual(["trusted-projects.json"]);
    expect(JSON.parse(readFileSync(store, "utf8"))).toMatchObject({
      version: 1,
      projects: [
        { dir: project, sha256: A },
        { dir: root, sha256: B },
      ],
    });
  });

  it("refuses a store it cannot read, naming the file, instead of guessing", () => {
    const { project, store } = setUp();
    mkdirSync(join(store, ".."), { recursive: true, mode: 0o700 });
    for (const body of ["{not json", JSON.stringify({ version: 1, projects: [{ dir: project, sha256: "nope", trustedAt: "x" }] }), JSON.stringify({ version: 2, projects: [] })]) {
      writeFileSync(store, body, { mode: 0o600 });
      expect(() => isTrusted(project, A, store)).toThrow(SettingsError);
      expect(() => isTrusted(project, A, store)).toThrow(new RegExp(`^${store}: not a trust store IronClaw can read \\(.*\\); remove it to start over`));
      expect(() => grantTrust(project, A, store)).toThrow(SettingsError);
    }
    // Whoever else can write it could trust any project for the user.
    writeFileSync(store, JSON.stringify({ version: 1, projects: [] }));
    chmodSync(store, 0o622);
    expect(() => listTrusted(store)).toThrow(/others may write it \(mode 622\)/);
  });

  it("lives in the user's state directory", () => {
    const saved = process.env.IRONCLAW_STATE_DIR;
    process.env.IRONCLAW_STATE_DIR = "/some/state";
    try {
      expect(trustStoreFile()).toBe("/some/state/trust/trusted-projects.json");
    } finally {
      if (saved === undefined) delete process.env.IRONCLAW_STATE_DIR;
      else process.env.IRONCLAW_STATE_DIR = saved;
    }
  });
});
