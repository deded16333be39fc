// The machines drawn in diagrams/, by file name.
import type { AnyStateMachine } from "xstate";
import { agentSessionMachine } from "../machines/agent-session.machine.ts";
import { approvalRequestMachine } from "../machines/approval-request.machine.ts";
import { inspectorConnectionMachine } from "../machines/inspector-connection.machine.ts";
import { mcpConnectionMachine } from "../machines/mcp-connection.machine.ts";
import { orchestratorMachine } from "../machines/orchestrator.machine.ts";
import { snapshotSlotMachine } from "../machines/snapshot-slot.machine.ts";
import { vmMachine } from "../machines/vm.machine.ts";

export const DIAGRAMS: Record<string, AnyStateMachine> = {
  "vm.machine": vmMachine,
  "orchestrator.machine": orchestratorMachine,
  "snapshot-slot.machine": snapshotSlotMachine,
  "mcp-connection.machine": mcpConnectionMachine,
  "approval-request.machine": approvalRequestMachine,
  "agent-session.machine": agentSessionMachine,
  "inspector-connection.machine": inspectorConnectionMachine,
};
