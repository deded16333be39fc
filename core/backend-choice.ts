// Which backend runs a sandbox when the user names none: the strongest one that a real probe
// showed working here AND that runs at hardware speed. A micro-VM under software emulation
// (QEMU's TCG, no usable KVM) isolates as well but boots for seconds and runs every instruction
// emulated, so it is used only when asked for by name. What was passed over, and why, is part of the answer: doctor, `exec --json` and
// `run --json` show it.
import { BACKENDS, type BackendName } from "./backend.ts";

/** What a probe said about one backend (the part the choice reads). */
export interface ProbeVerdict {
  readonly backend: BackendName;
  readonly usable: boolean;
  readonly reason: string;
  /** A VM that boots, but only under software emulation (no usable KVM). */
  readonly emulated?: boolean;
}

export interface PassedOver {
  readonly backend: BackendName;
  readonly reason: string;
}

export type BackendChoice =
  | { readonly chosen: BackendName; readonly passedOver: readonly PassedOver[] }
  | { readonly chosen: null; readonly passedOver: readonly PassedOver[]; readonly emulatedOnly: readonly BackendName[] };

export const EMULATED_REASON = "works, but only emulated here (no usable KVM): many times slower, so only when asked for by name";

/**
 * Walks the backends strongest first, asking `verdict` for each until one is chosen (so a
 * machine whose strongest backend works pays for one probe, not four).
 */
export async function chooseBackend(verdict: (backend: BackendName) => Promise<ProbeVerdict>): Promise<BackendChoice> {
  const passedOver: PassedOver[] = [];
  const emulatedOnly: BackendName[] = [];
  for (const backend of BACKENDS) {
    const v = await verdict(backend);
    if (v.usable && !v.emulated) return { chosen: backend, passedOver };
    if (v.usable) emulatedOnly.push(backend);
    passedOver.push({ backend, reason: v.usable ? EMULATED_REASON : v.reason });
  }
  return { chosen: null, passedOver, emulatedOnly };
}

/** The one-line refusal when nothing is chosen: what was tried, and what the user can do. */
export function noBackendMessage(choice: Extract<BackendChoice, { chosen: null }>): string {
  const tried = choice.passedOver.map((p) => `${p.backend}: ${p.reason}`).join("; ");
  const ask = choice.emulatedOnly.length ? `; ${choice.emulatedOnly.join(" or ")} works emulated: ask for it with --backend ${choice.emulatedOnly[0]}` : "";
  return `no sandbox backend runs at hardware speed on this machine (${tried})${ask}; run \`ironclaw doctor\``;
}
