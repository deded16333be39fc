// The isolation backends by name, strongest first, and a name as a user types it. In core/ so
// that a command that only checks the name (exec through the daemon) loads no driver to do it.
import { UsageError } from "./errors.ts";

export const BACKENDS = ["firecracker", "qemu", "gvisor", "namespace"] as const;
export type BackendName = (typeof BACKENDS)[number];

export function parseBackend(name: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(name)) return name as BackendName;
  throw new UsageError(`unknown backend "${name}": choose one of ${BACKENDS.join(", ")}`);
}
