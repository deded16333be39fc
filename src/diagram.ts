// Mermaid stateDiagram-v2 source drawn from a machine definition, so that diagrams/ can never
// drift from machines/ (tests/unit/diagrams.test.ts fails when a committed diagram is stale).
import type { AnyStateMachine } from "xstate";

interface Node {
  key: string;
  id: string;
  type: string;
  initial?: { target: readonly Node[] };
  states: Record<string, Node>;
  transitions: Map<string, ReadonlyArray<{ target?: readonly Node[]; guard?: unknown; reenter?: boolean }>>;
  always?: ReadonlyArray<{ target?: readonly Node[]; guard?: unknown }>;
}

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
  if (typeof guard === "object" && guard && "type" in guard) return ` [${String((guard as { type: unknown }).type)}]`;
  return " [guarded]";
}

const nodeName = (n: Node) => n.id.replace(/\./g, "_");

export function toMermaid(machine: AnyStateMachine): string {
  const lines = ["stateDiagram-v2"];
  const walk = (node: Node, indent: string) => {
    const children = Object.values(node.states);
    if (node.initial?.target[0]) lines.push(`${indent}[*] --> ${nodeName(node.initial.target[0])}`);
    for (const child of children) {
      if (Object.keys(child.states).length) {
        lines.push(`${indent}state ${nodeName(child)} {`);
        walk(child, `${indent}  `);
        lines.push(`${indent}}`);
      }
      if (child.type === "final") lines.push(`${indent}${nodeName(child)} --> [*]`);
    }
    for (const child of children) {
      const eventless = (child.always ?? []).map((t) => ["always", [t]] as const);
      for (const [eventType, transitions] of [...child.transitions, ...eventless]) {
        for (const t of transitions) {
          for (const target of t.target ?? []) {
            lines.push(`${indent}${nodeName(child)} --> ${nodeName(target)}: ${label(eventType)}${guardName(t.guard)}`);
          }
        }
      }
    }
  };
  walk(machine.root as unknown as Node, "  ");
  return `${lines.join("\n")}\n`;
}
