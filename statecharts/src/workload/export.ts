import { toDirectedGraph, type DirectedGraphNode } from '@xstate/graph';
import { workloadMachine } from './machine';

/** Readable event labels: `xstate.after.debounce.suspect` → `after debounce`, eventless → `always`. */
function label(eventType: string): string {
  if (eventType === '') return 'always';
  const m = /^xstate\.after\.([^.]+)\./.exec(eventType);
  return m ? `after ${m[1]}` : eventType;
}

function mermaidId(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * Pure. The workload statechart as a Mermaid `stateDiagram-v2`: nested states, initial states,
 * and every transition labelled with its event (guards are summarised by the event name).
 */
export function toMermaid(): string {
  const root = toDirectedGraph(workloadMachine);
  const lines: string[] = ['stateDiagram-v2'];
  const seen = new Set<string>();
  const emitNode = (n: DirectedGraphNode, indent: string) => {
    for (const child of n.children) {
      const sn = child.stateNode;
      if (sn.type === 'history') continue;
      const id = mermaidId(sn.id);
      if (child.children.length > 0) {
        lines.push(`${indent}state "${sn.key}" as ${id} {`);
        if (sn.initial?.target?.[0]) lines.push(`${indent}  [*] --> ${mermaidId(sn.initial.target[0].id)}`);
        if (sn.type === 'parallel') {
          child.children.forEach((c, i) => {
            if (i > 0) lines.push(`${indent}  --`);
            emitNode({ ...child, children: [c] } as DirectedGraphNode, `${indent}  `);
          });
        } else emitNode(child, `${indent}  `);
        lines.push(`${indent}}`);
      } else lines.push(`${indent}state "${sn.key}" as ${id}`);
    }
  };
  emitNode(root, '  ');
  const edges = (n: DirectedGraphNode): void => {
    for (const e of n.edges) {
      for (const t of e.transition.target ?? []) {
        const target = t.type === 'history' && t.parent ? t.parent : t;
        const line = `  ${mermaidId(e.transition.source.id)} --> ${mermaidId(target.id)} : ${label(e.transition.eventType)}`;
        if (!seen.has(line)) {
          seen.add(line);
          lines.push(line);
        }
      }
    }
    n.children.forEach(edges);
  };
  edges(root);
  return `${lines.join('\n')}\n`;
}

/** Pure. The workload statechart as JSON: states (nested) and transitions, for tools and docs. */
export function toJson(): unknown {
  const node = (n: DirectedGraphNode): unknown => ({
    id: n.stateNode.id,
    key: n.stateNode.key,
    type: n.stateNode.type,
    ...(n.stateNode.initial?.target?.[0] ? { initial: n.stateNode.initial.target[0].key } : {}),
    transitions: n.edges.map((e) => ({ event: label(e.transition.eventType), targets: (e.transition.target ?? []).map((t) => t.id) })),
    states: n.children.map(node),
  });
  return node(toDirectedGraph(workloadMachine));
}
