// `--cpus` as exec and run use it: the flag when given, else the setting sandbox.cpus (all cores
// but one unless configured). A bad setting is a usage error, like a bad flag: nothing starts.
import { loadSettings } from "../config/settings.ts";
import { SettingsError, UsageError } from "../../core/errors.ts";

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
