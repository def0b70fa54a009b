/**
 * Lays out the machine graph (from `machineGraph()`, the same one GET /api/machine serves) for drawing: top-level
 * states in ranks (rows) by longest path from the initial state (back edges such as retrying → attempt ignored),
 * children inside their compound parent, and the transitions every resting, unfinished state shares pulled out once.
 */
import type { GraphEdge, GraphNode, MachineGraph } from '@tether/machine';

export interface DiagramLayout {
  /** Top-level states by rank: rank 0 holds the initial state; final states share the last rank. */
  ranks: GraphNode[][];
  childrenOf: Map<string, GraphNode[]>;
  /** Outgoing edges per node, without the shared ones. */
  edgesFrom: Map<string, GraphEdge[]>;
  /** Edges that leave every resting, non-final top-level state alike (e.g. run.cancel), listed once. */
  shared: GraphEdge[];
}

const edgeSig = (e: GraphEdge) => `${e.kind}|${e.label}|${e.guard ?? ''}|${e.target}`;

export function layoutDiagram(graph: MachineGraph): DiagramLayout {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const topOf = (id: string): string => {
    let n = byId.get(id);
    while (n && n.parent !== null) n = byId.get(n.parent);
    return n?.id ?? id;
  };
  const top = graph.nodes.filter((n) => n.parent === null);
  const childrenOf = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) if (n.parent !== null) childrenOf.set(n.parent, [...(childrenOf.get(n.parent) ?? []), n]);

  // Shared edges: same kind, label, guard and target from every top-level state a run can rest in unfinished.
  const open = top.filter((n) => n.type !== 'final' && !n.transient);
  const sigsByNode = open.map((n) => new Set(graph.edges.filter((e) => e.source === n.id).map(edgeSig)));
  const sharedSigs = new Set([...(sigsByNode[0] ?? [])].filter((s) => sigsByNode.every((set) => set.has(s))));
  const shared: GraphEdge[] = [];
  const edgesFrom = new Map<string, GraphEdge[]>();
  for (const e of graph.edges) {
    const isShared = open.length > 1 && sharedSigs.has(edgeSig(e)) && byId.get(e.source)?.parent === null;
    if (isShared) {
      if (!shared.some((s) => edgeSig(s) === edgeSig(e))) shared.push(e);
      continue;
    }
    edgesFrom.set(e.source, [...(edgesFrom.get(e.source) ?? []), e]);
  }

  // Longest-path ranks over top-level states, following edges depth-first and skipping back edges.
  const succ = new Map<string, Set<string>>();
  for (const e of graph.edges) {
    if (sharedSigs.has(edgeSig(e)) && byId.get(e.source)?.parent === null) continue;
    const s = topOf(e.source);
    const t = topOf(e.target);
    if (s !== t) succ.set(s, (succ.get(s) ?? new Set()).add(t));
  }
  const rank = new Map<string, number>();
  const initial = top.find((n) => n.initial) ?? top[0];
  const onStack = new Set<string>();
  const visit = (id: string, r: number) => {
    if (onStack.has(id)) return;
    if ((rank.get(id) ?? -1) >= r) return;
    rank.set(id, r);
    onStack.add(id);
    for (const t of succ.get(id) ?? []) visit(t, r + 1);
    onStack.delete(id);
  };
  if (initial) visit(initial.id, 0);
  // Where a run ends, side by side on the last rank: final states, and states reached only through shared edges.
  const lastOpen = Math.max(0, ...top.filter((n) => n.type !== 'final' && rank.has(n.id)).map((n) => rank.get(n.id)!));
  for (const n of top) if (n.type === 'final' || !rank.has(n.id)) rank.set(n.id, lastOpen + 1);

  const ranks: GraphNode[][] = [];
  for (const n of top) {
    const r = rank.get(n.id) ?? 0;
    (ranks[r] ??= []).push(n);
  }
  return { ranks: ranks.filter(Boolean), childrenOf, edgesFrom, shared };
}
