// `--cpus` as exec and run use it: the flag when given, else the setting sandbox.cpus (all cores
// but one unless configured). A bad setting is a usage error, like a bad flag: nothing starts.
import { UsageError } from "../../core/exit-codes.ts";
import { loadSettings, SettingsError } from "../config/settings.ts";

export interface CpusChoice {
  readonly cpus: number;
  /** Given as --cpus: refuse to run where it cannot be enforced, rather than warn. */
  readonly explicit: boolean;
}

export function chooseCpus(flag: number | undefined): CpusChoice {
  if (flag !== undefined) return { cpus: flag, explicit: true };
  try {
    return { cpus: loadSettings().sandbox.cpus, explicit: false };
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
}
