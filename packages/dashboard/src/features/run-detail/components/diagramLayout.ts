/**
 * Geometry of the machine diagram. The states and transitions come from the machine's own graph (`machineGraph()`,
 * the one GET /api/machine serves); where they go on the page is a fixed, hand-made layout for this machine, read
 * top to bottom: idle → attempt {triggering, awaitingCallback} → timedOut / errored → retrying → the final states.
 * A state or transition the table does not know (the machine grew) still gets drawn: new states on an extra row at
 * the bottom, new transitions as straight arrows; the diagram stays complete and only looks less tidy.
 */
import type { GraphEdge, GraphNode, MachineGraph } from '@tether/machine/protocol';

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface EdgeLabel {
  x: number;
  y: number;
  anchor: 'start' | 'middle' | 'end';
  lines: string[];
}

export interface DrawnEdge {
  key: string;
  /** The graph's transitions this arrow stands for: one, or several between the same two states. */
  edges: GraphEdge[];
  source: string;
  target: string;
  points: Point[];
  /** Drawn without an arrowhead: it merges into another arrow to the same target. */
  joins: boolean;
  label: EdgeLabel | null;
}

export interface SelfLoop {
  node: string;
  edges: GraphEdge[];
}

export interface SharedEdge {
  edges: GraphEdge[];
  event: string;
  target: string;
  sources: string[];
  points: Point[];
  label: EdgeLabel;
}

export interface DiagramLayout {
  graph: MachineGraph;
  width: number;
  height: number;
  nodes: Array<{ node: GraphNode; box: Box }>;
  boxOf: Map<string, Box>;
  childrenOf: Map<string, GraphNode[]>;
  arrows: DrawnEdge[];
  loops: SelfLoop[];
  shared: SharedEdge[];
}

const WIDTH = 700;

const BOXES: Record<string, Box> = {
  idle: { x: 290, y: 10, w: 120, h: 36 },
  attempt: { x: 110, y: 86, w: 480, h: 136 },
  triggering: { x: 130, y: 120, w: 160, h: 62 },
  awaitingCallback: { x: 410, y: 120, w: 160, h: 62 },
  errored: { x: 140, y: 272, w: 120, h: 36 },
  timedOut: { x: 440, y: 272, w: 120, h: 36 },
  retrying: { x: 290, y: 370, w: 120, h: 40 },
  cancelled: { x: 50, y: 470, w: 120, h: 36 },
  failed: { x: 290, y: 470, w: 120, h: 36 },
  succeeded: { x: 510, y: 470, w: 120, h: 36 },
};

const p = (x: number, y: number): Point => ({ x, y });
const lbl = (x: number, y: number, anchor: EdgeLabel['anchor'], lines?: string[]) => ({ x, y, anchor, lines });

/**
 * Routes between two states (`source>target`), with where the label goes. `lines` overrides the label text where the
 * full event and guard names would not fit; the full names stay in each arrow's tooltip and the text list.
 */
const ROUTES: Record<string, { points: Point[]; joins?: boolean; label: ReturnType<typeof lbl> | null }> = {
  'idle>attempt': { points: [p(350, 46), p(350, 86)], label: lbl(358, 70, 'start') },
  'triggering>awaitingCallback': { points: [p(290, 151), p(410, 151)], label: lbl(350, 145, 'middle') },
  'triggering>errored': { points: [p(170, 182), p(170, 272)], label: lbl(164, 250, 'end') },
  'attempt>errored': { points: [p(230, 222), p(230, 272)], label: lbl(236, 240, 'start') },
  // Merges into the awaitingCallback → timedOut arrow, which carries the shared "after attemptTimeout" label.
  'triggering>timedOut': { points: [p(270, 182), p(270, 202), p(500, 202)], joins: true, label: null },
  'awaitingCallback>timedOut': { points: [p(500, 182), p(500, 272)], label: lbl(494, 250, 'end') },
  'attempt>timedOut': { points: [p(545, 222), p(545, 272)], label: lbl(551, 250, 'start') },
  'attempt>succeeded': { points: [p(590, 104), p(672, 104), p(672, 488), p(630, 488)], label: lbl(666, 350, 'end') },
  // Both eventless retries carry the same guard: one label between the two arrows, above retrying.
  'errored>retrying': { points: [p(240, 308), p(320, 370)], label: null },
  'timedOut>retrying': { points: [p(460, 308), p(380, 370)], label: lbl(350, 352, 'middle') },
  'errored>failed': { points: [p(200, 308), p(310, 470)], label: lbl(204, 336, 'end') },
  'timedOut>failed': { points: [p(490, 308), p(490, 488), p(410, 488)], label: lbl(496, 336, 'start') },
  'retrying>attempt': { points: [p(290, 390), p(40, 390), p(40, 150), p(110, 150)], label: lbl(48, 368, 'start') },
  'retrying>failed': { points: [p(350, 410), p(350, 470)], label: lbl(356, 446, 'start', ['past deadline']) },
};

/** Where the transitions every unfinished state shares (run.cancel) point from: a stub above their target. */
const SHARED_STUB: Record<string, { points: Point[]; label: ReturnType<typeof lbl> }> = {
  cancelled: { points: [p(110, 442), p(110, 470)], label: lbl(110, 424, 'middle') },
};

const edgeSig = (e: GraphEdge) => `${e.kind}|${e.label}|${e.guard ?? ''}|${e.target}`;

/** `run.start`, `after attemptTimeout`, `[canRetry]` for a guarded eventless one, `otherwise` for its fallback. */
export function edgeText(e: GraphEdge, withGuard: boolean): string {
  if (e.kind === 'always') return e.guard ? `[${e.guard}]` : 'otherwise';
  const name = e.kind === 'after' ? `after ${e.label}` : e.label;
  return withGuard && e.guard ? `${name} [${e.guard}]` : name;
}

/** A guard is worth showing where it decides between targets: the same event leaves this state for several. */
function guardDecides(e: GraphEdge, graph: MachineGraph): boolean {
  if (!e.guard || e.kind === 'always') return false;
  return graph.edges.some((o) => o !== e && o.source === e.source && o.kind === e.kind && o.label === e.label && o.target !== e.target);
}

function labelLines(edges: GraphEdge[], graph: MachineGraph): string[] {
  const lines: string[] = [];
  for (const e of edges) {
    const name = edgeText(e, false);
    if (!lines.includes(name)) lines.push(name);
    if (guardDecides(e, graph) && e.kind === 'on' && edges.length === 1) lines.push(`[${e.guard}]`);
  }
  return lines;
}

/** Center of the bottom side of a box to the center of the top side of another: the fallback arrow. */
function straight(a: Box, b: Box): Point[] {
  const down = b.y >= a.y + a.h;
  return down ? [p(a.x + a.w / 2, a.y + a.h), p(b.x + b.w / 2, b.y)] : [p(a.x + a.w / 2, a.y), p(b.x + b.w / 2, b.y + b.h)];
}

export function layoutDiagram(graph: MachineGraph): DiagramLayout {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const childrenOf = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) if (n.parent !== null) childrenOf.set(n.parent, [...(childrenOf.get(n.parent) ?? []), n]);

  // States the table does not place go on an extra row (children of a new compound are not nested: it is a fallback).
  const boxOf = new Map<string, Box>();
  let extraX = 20;
  let height = 520;
  for (const n of graph.nodes) {
    const known = BOXES[n.id];
    if (known) boxOf.set(n.id, known);
    else {
      if (extraX === 20) height += 60;
      boxOf.set(n.id, { x: extraX, y: height - 50, w: 120, h: 36 });
      extraX += 135;
    }
  }

  // Shared: the same transition from every top-level state a run can rest in unfinished (run.cancel).
  const open = graph.nodes.filter((n) => n.parent === null && n.type !== 'final' && !n.transient);
  const sigsByNode = open.map((n) => new Set(graph.edges.filter((e) => e.source === n.id).map(edgeSig)));
  const sharedSigs = open.length > 1 ? new Set([...(sigsByNode[0] ?? [])].filter((s) => sigsByNode.every((set) => set.has(s)))) : new Set<string>();
  const isShared = (e: GraphEdge) => sharedSigs.has(edgeSig(e)) && byId.get(e.source)?.parent === null;

  const shared: SharedEdge[] = [];
  for (const sig of sharedSigs) {
    const edges = graph.edges.filter((e) => isShared(e) && edgeSig(e) === sig);
    const first = edges[0]!;
    const target = boxOf.get(first.target)!;
    const stub = SHARED_STUB[first.target] ?? {
      points: [p(target.x + target.w / 2, target.y - 28), p(target.x + target.w / 2, target.y)],
      label: lbl(target.x + target.w / 2, target.y - 46, 'middle'),
    };
    shared.push({
      edges,
      event: first.label,
      target: first.target,
      sources: edges.map((e) => e.source),
      points: stub.points,
      label: { ...stub.label, lines: stub.label.lines ?? [edgeText(first, false), 'from any open state'] },
    });
  }

  const loops: SelfLoop[] = [];
  const groups = new Map<string, GraphEdge[]>();
  for (const e of graph.edges) {
    if (isShared(e)) continue;
    if (e.source === e.target) {
      const loop = loops.find((l) => l.node === e.source);
      if (loop) loop.edges.push(e);
      else loops.push({ node: e.source, edges: [e] });
      continue;
    }
    const key = `${e.source}>${e.target}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }

  const arrows: DrawnEdge[] = [...groups].map(([key, edges]) => {
    const first = edges[0]!;
    const route = ROUTES[key];
    const points = route?.points ?? straight(boxOf.get(first.source)!, boxOf.get(first.target)!);
    const fallbackLabel = (): EdgeLabel => {
      const a = points[0]!;
      const b = points[points.length - 1]!;
      return { x: (a.x + b.x) / 2 + 6, y: (a.y + b.y) / 2, anchor: 'start', lines: labelLines(edges, graph) };
    };
    const label = route ? (route.label ? { ...route.label, lines: route.label.lines ?? labelLines(edges, graph) } : null) : fallbackLabel();
    return { key, edges, source: first.source, target: first.target, points, joins: route?.joins ?? false, label };
  });

  return {
    graph,
    width: WIDTH,
    height,
    nodes: graph.nodes.map((node) => ({ node, box: boxOf.get(node.id)! })),
    boxOf,
    childrenOf,
    arrows,
    loops,
    shared,
  };
}
