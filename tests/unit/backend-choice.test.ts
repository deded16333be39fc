// The default backend: the strongest that works here at hardware speed. An emulated VM is passed
// over (with that reason) and only offered by name; what was passed over, and why, is reported;
// a machine whose strongest backend works pays for one probe.
import { describe, expect, it } from "vitest";
import { chooseBackend, EMULATED_REASON, noBackendMessage, type ProbeVerdict } from "../../core/backend-choice.ts";
import type { BackendName } from "../../core/backend.ts";

const probes = (verdicts: Partial<Record<BackendName, Omit<ProbeVerdict, "backend">>>) => {
  const asked: BackendName[] = [];
  const verdict = async (backend: BackendName): Promise<ProbeVerdict> => {
    asked.push(backend);
    return { backend, ...(verdicts[backend] ?? { usable: false, reason: `${backend} is not installed` }) };
  };
  return { asked, verdict };
};

describe("chooseBackend", () => {
  it("takes the strongest backend that works at hardware speed, and asks no further", async () => {
    const p = probes({ firecracker: { usable: true, reason: "booted" }, qemu: { usable: true, reason: "booted" } });
    expect(await chooseBackend(p.verdict)).toEqual({ chosen: "firecracker", passedOver: [] });
    expect(p.asked).toEqual(["firecracker"]);
  });

  it("passes over a VM that runs only emulated, saying so, and over those that do not work, with their reasons", async () => {
    const p = probes({ qemu: { usable: true, reason: "booted", emulated: true }, gvisor: { usable: true, reason: "booted" }, namespace: { usable: true, reason: "booted" } });
    expect(await chooseBackend(p.verdict)).toEqual({
      chosen: "gvisor",
      passedOver: [
        { backend: "firecracker", reason: "firecracker is not installed" },
        { backend: "qemu", reason: EMULATED_REASON },
      ],
    });
    expect(p.asked).toEqual(["firecracker", "qemu", "gvisor"]);
  });

  it("chooses nothing when only an emulated VM works, and the refusal says how to ask for it", async () => {
    const choice = await chooseBackend(probes({ qemu: { usable: true, reason: "booted", emulated: true } }).verdict);
    expect(choice).toMatchObject({ chosen: null, emulatedOnly: ["qemu"] });
    if (choice.chosen !== null) throw new Error("unreachable");
    expect(noBackendMessage(choice)).toMatch(
      /^no sandbox backend runs at hardware speed on this machine \(firecracker: .*; qemu: works, but only emulated.*; namespace: namespace is not installed\); qemu works emulated: ask for it with --backend qemu; run `ironclaw doctor`$/,
    );
  });

  it("chooses nothing when nothing works, and names every reason", async () => {
    const choice = await chooseBackend(probes({}).verdict);
    if (choice.chosen !== null) throw new Error("expected no choice");
    expect(choice.emulatedOnly).toEqual([]);
    expect(noBackendMessage(choice)).toBe(
      "no sandbox backend runs at hardware speed on this machine (firecracker: firecracker is not installed; qemu: qemu is not installed; gvisor: gvisor is not installed; namespace: namespace is not installed); run `ironclaw doctor`",
    );
  });
});
