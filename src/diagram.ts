// Mermaid stateDiagram-v2 source drawn from a machine definition, so that diagrams/ can never
// drift from machines/ (tests/unit/diagrams.test.ts fails when a committed diagram is stale).
import type { AnyStateMachine, AnyStateNode } from "xstate";

function label(eventType: string): string {
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (done) return `${done[1]} done`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (error) return `${error[1]} error`;
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return `after ${after[1]}`;
  return eventType;
}

function guardName(guard: unknown): string {
  if (!guard) return "";
  if (typeof guard === "string") return ` [${guard}]`;
  if (typeof guard === "object" && guard && "type" in guard) return ` [${String(guard.type)}]`;
  return " [guarded]";
}

/** A state node's name in the chart: its id with dots made underscores (Mermaid ids cannot contain dots). */
export const nodeName = (n: { id: string }) => n.id.replace(/\./g, "_");

// Mermaid (12.3) gives a state the parent of the last composite block that names it, and a
// mention at the top level does not reset that. So each block only declares its own states, and
// every transition is written at the top level after all blocks: a transition written inside a
// block would pull an outside state (or a state of a nested block) into that block.
export function toMermaid(machine: AnyStateMachine): string {
  const lines = ["stateDiagram-v2"];
  const transitions: string[] = [];
  const walk = (node: AnyStateNode, indent: string) => {
    const children = Object.values(node.states);
    const initial = node.initial?.target[0];
    if (initial) lines.push(`${indent}[*] --> ${nodeName(initial)}`);
    for (const child of children) {
      if (Object.keys(child.states).length) {
        lines.push(`${indent}state ${nodeName(child)} {`);
        walk(child, `${indent}  `);
        lines.push(`${indent}}`);
      } else if (child.type === "final") {
        lines.push(`${indent}${nodeName(child)} --> [*]`);
      } else if (child !== initial) {
        lines.push(`${indent}${nodeName(child)}`);
      }
    }
    for (const child of children) {
      const eventless = (child.always ?? []).map((t) => ["always", [t]] as const);
      for (const [eventType, ts] of [...child.transitions, ...eventless]) {
        for (const t of ts) {
          for (const target of t.target ?? []) {
            transitions.push(`  ${nodeName(child)} --> ${nodeName(target)}: ${label(eventType)}${guardName(t.guard)}`);
          }
        }
      }
    }
  };
  walk(machine.root, "  ");
  return `${[...lines, ...transitions].join("\n")}\n`;
}
