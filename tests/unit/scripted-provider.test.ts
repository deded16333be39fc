// The scripted model: turns replayed in order with deterministic ids, `expect` failing the run
// loudly where it diverges, the file checked up front with errors that name the turn and key.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type ModelMessage, type ModelRequest, type ToolSpec } from "../../core/model.ts";
import { parseScript, ScriptedProvider } from "../../actors/model/scripted.provider.ts";
import { ModelError } from "../../core/errors.ts";

const fixture = join(import.meta.dirname, "../fixtures/model/fix-tests.yaml");
const tool = (name: string): ToolSpec => ({ name, description: name, inputSchema: { type: "object" } });
const tools = [tool("read_file"), tool("write_file"), tool("run")];

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function file(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "ironclaw-script-"));
  dirs.push(dir);
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function thrown(f: () => unknown): ModelError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    return err as ModelError;
  }
  throw new Error("expected a ModelError");
}

async function rejected(p: Promise<unknown>): Promise<ModelError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelError);
  return err as ModelError;
}

describe("ScriptedProvider", () => {
  it("replays the turns in order, with deterministic ids, streamed text and estimated usage", async () => {
    const model = ScriptedProvider.fromFile(fixture);
    expect(model.name).toBe(`script:${fixture}`);
    const messages: ModelMessage[] = [{ role: "user", content: "Please fix the failing test in this repo." }];
    const seen: string[] = [];

    const first = await model.complete({ messages, tools }, { onText: (t) => seen.push(t) });
    expect(first).toEqual({
      text: "Let me look at the test first.",
      toolCalls: [{ id: "script_0_0", name: "read_file", arguments: { path: "test/sum.test.js" } }],
      usage: first.usage,
      stop: "tool_calls",
    });
    expect(seen).toEqual(["Let me look at the test first."]);
    // About four characters a token.
    const promptChars = messages[0]!.content.length + JSON.stringify(tools).length;
    expect(first.usage.inputTokens).toBe(Math.ceil(promptChars / 4));
    expect(first.usage.outputTokens).toBe(Math.ceil((first.text.length + JSON.stringify(first.toolCalls).length) / 4));

    messages.push({ role: "assistant", content: first.text, toolCalls: first.toolCalls });
    messages.push({ role: "tool", toolCallId: "script_0_0", name: "read_file", content: "expect(sum(2, 2)).toBe(4)" });
    const second = await model.complete({ messages, tools });
    expect(second.text).toBe("");
    expect(second.toolCalls.map((c) => [c.id, c.name])).toEqual([
      ["script_1_0", "write_file"],
      ["script_1_1", "run"],
    ]);
    expect(second.toolCalls[0]!.arguments).toEqual({ path: "src/sum.js", content: "export const sum = (a, b) => a + b;\n" });

    messages.push({ role: "assistant", content: "", toolCalls: second.toolCalls });
    messages.push({ role: "tool", toolCallId: "script_1_0", name: "write_file", content: "wrote src/sum.js" });
    messages.push({ role: "tool", toolCallId: "script_1_1", name: "run", content: "Tests: 1 passed, 1 total" });
    const third = await model.complete({ messages, tools });
    expect(third).toMatchObject({ text: "The test passes now; sum adds instead of subtracting.", toolCalls: [], stop: "end" });
    expect(model.played).toBe(3);

    const err = await rejected(model.complete({ messages, tools }));
    expect(err.code).toBe("script_exhausted");
    expect(err.message).toBe(`${fixture}: the model was asked for turn 4, and the script has only 3; add turns, or end the last one without tool calls`);
  });

  it("gives the same ids run after run", async () => {
    const ids = async () =>
      (await ScriptedProvider.fromFile(fixture).complete({ messages: [{ role: "user", content: "fix the failing test" }], tools })).toolCalls.map((c) => c.id);
    expect(await ids()).toEqual(await ids());
  });

  describe("expect", () => {
    const request = (messages: ModelMessage[], offered: ToolSpec[] = tools): ModelRequest => ({ messages, tools: offered });
    const afterCall: ModelMessage[] = [
      { role: "user", content: "go" },
      { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "run", arguments: {} }] },
      { role: "tool", toolCallId: "c1", name: "run", content: "exit 1: 2 failed", isError: true },
    ];

    it("fails the run at the turn whose user message does not match", async () => {
      const model = new ScriptedProvider(parseScript("turns:\n  - text: ok\n  - expect: { user: deploy }\n    text: deploying", "s.yaml"), "s.yaml");
      await model.complete(request([{ role: "user", content: "hi" }]));
      const err = await rejected(model.complete(request([{ role: "user", content: "run the tests" }])));
      expect(err.code).toBe("script_diverged");
      expect(err.message).toBe(
        's.yaml: turns[1].expect: user: expected the last user message to contain "deploy", got "run the tests"; the run went somewhere the script did not foresee',
      );
      expect(model.played).toBe(1); // the diverging turn is not consumed
    });

    it("checks the tool results since the model's last turn", async () => {
      const model = (yaml: string) => new ScriptedProvider(parseScript(yaml, "s.yaml"), "s.yaml");
      expect((await model("turns:\n  - expect: { toolResult: '2 failed', toolError: true }").complete(request(afterCall))).stop).toBe("end");
      const wrong = await rejected(model("turns:\n  - expect: { toolResult: [failed, passed] }").complete(request(afterCall)));
      expect(wrong.message).toContain('turns[0].expect: toolResult: expected a tool result containing "passed", got run: "exit 1: 2 failed"');
      const failed = await rejected(model("turns:\n  - expect: { toolError: false }").complete(request(afterCall)));
      expect(failed.message).toContain('toolError: expected no failed tool call, and run failed: "exit 1: 2 failed"');
      // Results the model already answered do not count.
      const stale = await rejected(
        model("turns:\n  - expect: { toolResult: failed }").complete(request([...afterCall, { role: "assistant", content: "hmm" }, { role: "user", content: "again" }])),
      );
      expect(stale.message).toContain("expected tool results, and the model has not been given any since its last turn");
    });

    it("checks the tools on offer", async () => {
      const model = new ScriptedProvider(parseScript("turns:\n  - expect: { tools: [read_file, deploy] }", "s.yaml"), "s.yaml");
      const err = await rejected(model.complete(request([{ role: "user", content: "x" }])));
      expect(err.message).toContain("tools: expected the tool deploy on offer, got read_file, write_file, run");
    });
  });

  it("honours a turn's stop and usage", async () => {
    const model = new ScriptedProvider(parseScript("turns:\n  - text: The answ\n    stop: max_tokens\n    usage: { inputTokens: 900, outputTokens: 4096 }", "s.yaml"), "s.yaml");
    expect(await model.complete({ messages: [], tools: [] })).toEqual({ text: "The answ", toolCalls: [], usage: { inputTokens: 900, outputTokens: 4096 }, stop: "max_tokens" });
  });

  it("is cancelled by an aborted signal without using up a turn", async () => {
    const model = new ScriptedProvider(parseScript("turns:\n  - text: hi", "s.yaml"), "s.yaml");
    expect((await rejected(model.complete({ messages: [], tools: [] }, { signal: AbortSignal.abort() }))).code).toBe("aborted");
    expect(model.played).toBe(0);
  });

  describe("the file", () => {
    it("may be JSON", async () => {
      const path = file("turns.json", JSON.stringify({ turns: [{ toolCalls: [{ name: "run", arguments: { command: "ls" } }] }] }));
      const turn = await ScriptedProvider.fromFile(path).complete({ messages: [], tools: [] });
      expect(turn.toolCalls).toEqual([{ id: "script_0_0", name: "run", arguments: { command: "ls" } }]);
    });

    it.each([
      ["a wrong type, by turn index and key", "turns:\n  - text: ok\n  - toolCalls:\n      - name: 3\n", "s.yaml: turns[1].toolCalls[0].name: Expected string, got 3"],
      ["arguments that are not an object", "turns:\n  - toolCalls: [{ name: run, arguments: [ls] }]\n", "s.yaml: turns[0].toolCalls[0].arguments: Expected object"],
      ["a key that is not one", "turns:\n  - text: ok\n    tool_calls: []\n", "s.yaml: turns[0].tool_calls is not a key here (keys: expect, text, toolCalls, stop, usage)"],
      ["a key that is not one in expect", "turns:\n  - expect: { result: x }\n", "s.yaml: turns[0].expect.result is not a key here (keys: user, toolResult, toolError, tools)"],
      ["a stop that is not one", "turns:\n  - stop: done\n", 's.yaml: turns[0].stop: Expected "end" | "tool_calls" | "max_tokens", got "done"'],
      ["negative usage", "turns:\n  - usage: { inputTokens: -1, outputTokens: 0 }\n", "s.yaml: turns[0].usage.inputTokens: Expected a value greater than or equal to 0, got -1"],
      ["no turns", "turns: []\n", "s.yaml: turns: Expected a value with a length of at least 1"],
      ["no turns key", "text: hi\n", "s.yaml: text is not a key here (keys: turns)"],
      ["a bare list", "- text: hi\n", 's.yaml: the turns go under a "turns:" key'],
      ["broken YAML, with its line", "turns:\n  - text: a\n   bad: [\n", "s.yaml: not valid YAML (Sequence item without - indicator at line 3, column 1:)"],
    ])("refuses %s", (_what, yaml, message) => {
      const err = thrown(() => parseScript(yaml, "s.yaml"));
      expect(err.code).toBe("bad_script");
      expect(err.message).toBe(message);
    });

    it("refuses broken JSON and a missing file", () => {
      expect(thrown(() => parseScript('{"turns": [', "s.json")).message).toMatch(/^s\.json: not valid JSON \(/);
      expect(thrown(() => ScriptedProvider.fromFile("/nonexistent/turns.yaml")).message).toBe("/nonexistent/turns.yaml: cannot read the script (ENOENT)");
    });
  });

  it("accepts the example script in docs/models.md", () => {
    const doc = readFileSync(join(import.meta.dirname, "../../docs/models.md"), "utf8");
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    expect(example).toBe(readFileSync(fixture, "utf8"));
    expect(parseScript(example!, "docs/models.md").turns).toHaveLength(3);
  });
});
