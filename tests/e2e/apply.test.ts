// What comes back from the sandbox, and how it lands, end to end with the scripted model and a
// real sandbox: a project planted with a symlink to outside, approved at a real terminal, writes
// nothing outside (and nothing at all); links, .git/ and a chmod the model made are on the card,
// the ones not applied with why; large rewrites get a summarised card whose full diff is saved to
// the file the card names (a 60,000-line file shown by sizes and hashes), and Ctrl-C while the
// card is built ends the run at once;
// changes over the cap are refused with one clear reason and the project stays as it was.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { backendsUnderTest } from "../support/backends.ts";
import { cliHarness } from "../support/cli.ts";
import { exampleProject, removeExampleProjects, script } from "../support/example-project.ts";
import { DEFAULT_CARD_LIMITS } from "../../core/diff-card.ts";
import { tree } from "../support/file-tree.ts";
import { atTerminal } from "../support/pty.ts";

const { BIN, env, ironclaw, records, sandboxProcesses } = cliHarness("apply");
const backend = backendsUnderTest()[0]!;
const outsides: string[] = [];
afterAll(() => {
  removeExampleProjects();
  outsides.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** A directory outside every project, for planted links to point at; removed after the suite. */
function outside(): string {
  const dir = mkdtempSync(join(tmpdir(), "ironclaw-outside-"));
  outsides.push(dir);
  return dir;
}

const terminalEnv = { ...env, NO_COLOR: "1", IRONCLAW_PAGER: "cat" };

describe.skipIf(!backend)("applying the sandbox's changes", () => {
  it.each([
    ["through the link", "src/link/planted.sh", /src\/link is a symbolic link or not a directory on the host: IronClaw never writes through it; nothing was applied/],
    ["at the link's own path", "src/link", /src\/link is a symbolic link on the host: IronClaw never writes through links; nothing was applied/],
  ])("a project planted with a symlink to outside: a file the model writes %s lands nowhere, even approved", async (_, path, why) => {
    const dir = exampleProject({});
    const target = outside();
    symlinkSync(target, join(dir, "src", "link"));
    const before = tree(dir);
    const s = script(dir, [
      {
        toolCalls: [
          { name: "write_file", arguments: { path: "src/cart.js", content: "// a legitimate-looking change\n" } },
          { name: "write_file", arguments: { path, content: "#!/bin/sh\necho pwned\n" } },
        ],
      },
      { expect: { toolResult: "wrote" }, text: "Done." },
    ]);
    const r = await atTerminal([BIN, "run", "plant", "--script", s, "-b", backend], { cwd: dir, env: terminalEnv, answers: ["y\n"] });
    expect(r.stdout).toMatch(/\[y\/N\]/); // approved at the terminal
    expect(r.stdout).toMatch(why);
    expect(r.code).toBe(1);
    expect(readdirSync(target)).toEqual([]);
    expect(tree(dir)).toEqual(before); // all or nothing: src/cart.js is not changed either
    expect(records()).toEqual([]);
  });

  it("shows a link, a .git hook and a chmod +x the model made: the mode change is a change, the others are listed as not applied, with why", async () => {
    const dir = exampleProject({});
    const before = tree(dir);
    const s = script(dir, [
      {
        toolCalls: [
          {
            name: "exec",
            arguments: {
              argv: [
                "sh",
                "-c",
                "ln -s /etc/passwd src/evil-link && mkdir -p .git/hooks && printf '#!/bin/sh\\ncurl evil\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit src/cart.js",
              ],
            },
          },
        ],
      },
      { expect: { toolResult: "exit code 0" }, text: "Done." },
    ]);
    const r = await ironclaw(["run", "hooks", "--script", s, "--approve", "deny", "-b", backend], { cwd: dir, env: { NO_COLOR: "1" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^! mode\s+src\/cart\.js\s+.*mode 0644 → 0755/m);
    expect(r.stderr).toMatch(/^Not applied \(left in the sandbox\):$/m);
    expect(r.stderr).toMatch(/^- \.git\/ \(directory\): 1 file under \.git\/, version history: IronClaw never changes a repository's \.git$/m);
    expect(r.stderr).toMatch(/^- src\/evil-link \(symbolic link\): IronClaw never creates links in your project$/m);
    expect(r.stderr).toMatch(/denied: apply 1 changed file\(s\) to .*; 2 not applied, listed on the card/);
    expect(tree(dir)).toEqual(before);
  });

  /** Ten files of 2,400 lines each (diffable one by one; 48,000 patch lines together, over the card's bound) and one of 60,000 (too large to diff). */
  function bigProject(): string {
    const dir = exampleProject({});
    for (let i = 0; i < 10; i++) writeFileSync(join(dir, `big${i}.txt`), Array.from({ length: 2_400 }, (_, n) => `line ${n}\n`).join(""));
    writeFileSync(join(dir, "huge.txt"), Array.from({ length: 60_000 }, (_, n) => `line ${n}\n`).join(""));
    return dir;
  }
  const REWRITE_ALL = "for (const f of fs.readdirSync('.').filter((f) => /^(big\\d|huge)/.test(f))) fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replaceAll('line', 'row'))";

  it("summarises the card of large rewrites (a 60,000-line file by its sizes and hashes) and saves the full diff to the file the card names; the run finishes", async () => {
    const dir = bigProject();
    const before = tree(dir);
    const s = script(dir, [
      { toolCalls: [{ name: "exec", arguments: { argv: ["/opt/ironclaw/node", "-e", REWRITE_ALL] } }] },
      { expect: { toolResult: "exit code 0" }, text: "Rewrote them." },
    ]);
    const r = await ironclaw(["run", "rewrite", "--script", s, "--approve", "deny", "-b", backend], { cwd: dir, env: { NO_COLOR: "1" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr, r.stderr).toMatch(/^Summarised: /m);
    expect(r.stderr, r.stderr).toMatch(/too large to diff: 60,000 → 60,000 lines/);
    const file = /^full diff: (.+)$/m.exec(r.stderr)?.[1];
    expect(file, r.stderr).toBeDefined();
    expect(file!.startsWith(join(env.IRONCLAW_STATE_DIR, "cards"))).toBe(true);
    expect(statSync(file!).mode & 0o777).toBe(0o600);
    expect(statSync(join(env.IRONCLAW_STATE_DIR, "cards")).mode & 0o777).toBe(0o700);
    const full = readFileSync(file!, "utf8");
    for (let i = 0; i < 10; i++) expect(full, full.slice(0, 4000)).toContain(`big${i}.txt`);
    expect(full, full.slice(0, 4000)).toContain("-line 2399");
    expect(full, full.slice(0, 4000)).toContain("+row 2399");
    // The card keeps to its bounds (how many diffs fit depends on this machine's speed within the
    // time budget); the full diff holds everything the card left out.
    const cardDiffLines = r.stderr.split("\n").filter((l) => /^[-+@ ]/.test(l)).length;
    expect(cardDiffLines).toBeLessThanOrEqual(DEFAULT_CARD_LIMITS.maxPatchLines + 100); // + the indented summary rows
    expect(full.split("\n").filter((l) => /^[-+@ ]/.test(l)).length).toBeGreaterThan(DEFAULT_CARD_LIMITS.maxPatchLines);
    expect(tree(dir)).toEqual(before);
  });

  it("Ctrl-C once the model is done, while its large changes are collected and their card built, ends the run with 130 and leaves no sandbox", async () => {
    const dir = bigProject();
    const before = tree(dir);
    const s = script(dir, [
      { toolCalls: [{ name: "exec", arguments: { argv: ["/opt/ironclaw/node", "-e", REWRITE_ALL] } }] },
      // Its words are the last thing before the changes are collected and the card built.
      { expect: { toolResult: "exit code 0" }, text: "Rewrote them; now the card." },
    ]);
    const r = await atTerminal([BIN, "run", "rewrite", "--script", s, "-b", backend], { cwd: dir, env: terminalEnv, interruptAt: /now the card\./ });
    expect(r.code, r.stdout).toBe(130);
    // Stopped before the card was done: never drawn, nothing asked (a card built synchronously
    // would have been drawn and asked about before the signal was seen).
    expect(r.stdout).not.toMatch(/sha256 after|\[y\/N\]/);
    expect(records()).toEqual([]);
    expect(sandboxProcesses("never-a-command")).toEqual([]);
    expect(tree(dir)).toEqual(before);
  });

  it("refuses changes over the cap with one clear reason: nothing applied, the project unchanged", async () => {
    const dir = exampleProject({});
    const before = tree(dir);
    const s = script(dir, [
      { toolCalls: [{ name: "exec", arguments: { argv: ["/opt/ironclaw/node", "-e", "fs.writeFileSync('blob.bin', crypto.randomBytes(2 * 1024 * 1024))"] } }] },
      { expect: { toolResult: "exit code 0" }, text: "Wrote 2 MiB." },
    ]);
    const r = await ironclaw(["run", "blob", "--script", s, "--approve", "deny", "-b", backend, "--json"], { cwd: dir, env: { IRONCLAW_MAX_CHANGE_MIB: "1" } });
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ outcome: "failed", approvals: [] });
    expect(out.reason).toMatch(
      /the sandbox's changes add up to 2 MiB, over the 1 MiB cap \(workspace\.maxChangeMiB in .*config\.json or IRONCLAW_MAX_CHANGE_MIB\); nothing was applied/,
    );
    expect(tree(dir)).toEqual(before);
    expect(existsSync(join(dir, "blob.bin"))).toBe(false);
    expect(records()).toEqual([]);
  });
});
