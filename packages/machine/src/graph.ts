/**
 * The machine as nodes and edges for drawing, walked from `runMachine.root` (not `toJSON()`, which drops
 * `always` edges). Every edge kind is kept: `on` events, `after` delays and eventless `always` steps.
 */
import { runMachine } from './machine.ts';
import type { GraphEdge, GraphNode, MachineGraph } from './protocol/graph.ts';

type AnyNode = (typeof runMachine)['root'];
type AnyTransition = { target?: ReadonlyArray<{ key: string }> | undefined; guard?: unknown; eventType: string };

const guardName = (g: unknown): string | null => {
  if (!g) return null;
  if (typeof g === 'string') return g;
  if (typeof g === 'object' && g !== null && 'type' in g) return String((g as { type: unknown }).type);
  return 'inline';
};

export function machineGraph(machine: { root: AnyNode; id: string } = runMachine): MachineGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const push = (source: string, t: AnyTransition, kind: GraphEdge['kind'], label: string) => {
    for (const target of t.target ?? [{ key: source }]) {
      edges.push({
        id: `${source}-${kind}-${label || 'always'}-${target.key}-${edges.length}`,
        source,
        target: target.key,
        kind,
        label,
        guard: guardName(t.guard),
      });
    }
  };
  const walk = (node: AnyNode, parent: AnyNode | null) => {
    if (parent) {
      nodes.push({
        id: node.key,
        path: node.path.join('.'),
        parent: parent === machine.root ? null : parent.key,
        type: node.type,
        initial: parent.initial?.target?.some((t) => t === node) ?? false,
        transient: node.always !== undefined && node.always.length > 0,
      });
      for (const [eventType, list] of node.transitions) {
        if (eventType.startsWith('xstate.after')) continue;
        for (const t of list) push(node.key, t as AnyTransition, 'on', eventType);
      }
      for (const t of node.after) push(node.key, t as AnyTransition, 'after', String((t as { delay: unknown }).delay));
      for (const t of node.always ?? []) push(node.key, t as AnyTransition, 'always', '');
    } else {
      // Root-level transitions (run.cancel) apply from every non-final state a run can rest in: draw them from each
      // such top-level state. Transient states (timedOut, errored) are left within the same step, so no event reaches them.
      for (const [eventType, list] of node.transitions) {
        for (const child of Object.values(node.states)) {
          if (child.type === 'final' || (child.always?.length ?? 0) > 0) continue;
          for (const t of list) push(child.key, t as AnyTransition, 'on', eventType);
        }
      }
    }
    for (const child of Object.values(node.states)) walk(child as AnyNode, node);
  };
  walk(machine.root, null);
  return { id: machine.id, nodes, edges };
}
