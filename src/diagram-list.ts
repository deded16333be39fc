// The machines drawn in diagrams/, by file name.
import type { AnyStateMachine } from "xstate";
import { orchestratorMachine } from "../machines/orchestrator.machine.ts";
import { vmMachine } from "../machines/vm.machine.ts";

export const DIAGRAMS: Record<string, AnyStateMachine> = {
  "vm.machine": vmMachine,
  "orchestrator.machine": orchestratorMachine,
};
