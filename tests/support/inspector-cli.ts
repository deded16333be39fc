// `ironclaw inspect` started as a user starts it, for the tests that need a running inspector,
// and the hub's state read as a script would (GET /api/state).
import type { ChildProcess } from "node:child_process";
import type { UiMessage } from "../../src/inspector/inspector-protocol.ts";
import type { cliHarness, Run } from "./cli.ts";

export type HubState = Extract<UiMessage, { type: "state" }>;

export interface StartedInspector {
  readonly url: string;
  readonly port: number;
  /** false when another inspector was already running and this one only printed its URL. */
  readonly started: boolean;
  readonly child: ChildProcess;
  readonly done: Promise<Run>;
}

/** Starts `ironclaw inspect --json`; resolves once it has printed its URL. */
export async function startInspector(ironclaw: ReturnType<typeof cliHarness>["ironclaw"]): Promise<StartedInspector> {
  let child!: ChildProcess;
  let stdout = "";
  const done = ironclaw(["inspect", "--json"], { onSpawn: (c) => ((child = c), c.stdout!.on("data", (d) => (stdout += d))) });
  for (let i = 0; i < 200 && !stdout.includes("\n"); i++) await new Promise((r) => setTimeout(r, 50));
  if (!stdout.includes("\n")) throw new Error(`ironclaw inspect printed no URL within 10 s (exit ${child.exitCode})`);
  const printed = JSON.parse(stdout) as { url: string; port: number; started: boolean };
  return { ...printed, child, done };
}

export const hubState = async (url: string): Promise<HubState> => (await (await fetch(url.replace("/?", "/api/state?"))).json()) as HubState;
