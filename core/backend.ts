// A backend's name as a user types it. Apart from backend-select.ts so that a command that only
// checks the name (exec through the daemon) does not load every driver to do it.
import { BACKENDS, type BackendName } from "../actors/sandbox/sandbox-driver.ts";
import { UsageError } from "./exit-codes.ts";

export function parseBackend(name: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(name)) return name as BackendName;
  throw new UsageError(`unknown backend "${name}": choose one of ${BACKENDS.join(", ")}`);
}
