import { useId, useMemo } from 'react';
import { machineGraph } from '@tether/machine';
import type { GraphEdge, GraphNode, MachineGraph } from '@tether/machine/protocol';
import type { NextStep } from '../../../lib/run-snapshot.ts';
import { stateLabel } from '../../../lib/tones.ts';
import { edgeText, layoutDiagram, type Box, type DiagramLayout, type EdgeLabel, type Point } from './diagramLayout.ts';

export interface MachineDiagramProps {
  /** The run's active leaf state (`run.state`, or the state at the instant time travel shows). */
  activeState: string;
  /**
   * What the current state accepts now, asked of the run's live snapshot (`nextSteps`): each event and the states it
   * leads through. A transition is lit when its event is accepted and the run would actually go where it points.
   */
  accepted?: ReadonlyArray<Pick<NextStep, 'eventType' | 'path' | 'resultState'>>;
  graph?: MachineGraph;
}

const DEFAULT_GRAPH = machineGraph();
const LINE_HEIGHT = 13;

function activeIds(graph: MachineGraph, leaf: string): Set<string> {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const out = new Set<string>();
  let n = byId.get(leaf);
  while (n) {
    out.add(n.id);
    n = n.parent === null ? undefined : byId.get(n.parent);
  }
  return out;
}

type Accepted = MachineDiagramProps['accepted'];

/** The state and its ancestors: entering `triggering` enters `attempt`. */
function withAncestors(graph: MachineGraph, id: string): string[] {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const out: string[] = [];
  for (let n = byId.get(id); n; n = n.parent === null ? undefined : byId.get(n.parent)) out.push(n.id);
  return out;
}

function edgeAccepted(graph: MachineGraph, e: GraphEdge, accepted: Accepted): boolean {
  if (!accepted || e.kind === 'always') return false;
  const sameEvent = (type: string) => (e.kind === 'on' ? type === e.label : type.startsWith(`xstate.after.${e.label}.`));
  return accepted.some((step) => {
    if (!sameEvent(step.eventType)) return false;
    // Guards pick one target among several for the same event: only the one the run would take is lit.
    const reached = (step.path.length ? step.path : [step.resultState]).flatMap((s) => withAncestors(graph, s));
    return reached.includes(e.target);
  });
}

const describeEdge = (e: GraphEdge) => `${e.source}: ${edgeText(e, true)} → ${e.target === e.source ? '(stays)' : e.target}`;
const pathOf = (points: Point[]) => points.map((pt, i) => `${i === 0 ? 'M' : 'L'}${pt.x},${pt.y}`).join(' ');

function Label({ label, className }: { label: EdgeLabel; className: string }) {
  return (
    <text className={className} x={label.x} y={label.y} textAnchor={label.anchor}>
      {label.lines.map((line, i) => (
        <tspan key={i} x={label.x} dy={i === 0 ? 0 : LINE_HEIGHT}>
          {line}
        </tspan>
      ))}
    </text>
  );
}

/** A short line under the state's name: what kind of state it is, and whether the run is in it. */
function subtitle(node: GraphNode, current: boolean, active: boolean): string {
  const kind =
    node.type === 'final' ? 'final' : node.transient ? 'passes through' : node.initial ? 'initial' : node.id === 'retrying' ? 'backoff' : '';
  const where = current ? 'current' : active ? 'active' : '';
  return [where, kind].filter(Boolean).join(' · ');
}

interface NodeProps {
  node: GraphNode;
  layout: DiagramLayout;
  active: Set<string>;
  leaf: string;
  accepted: Accepted;
}

function StateNode({ node, layout, active, leaf, accepted }: NodeProps) {
  const box: Box = layout.boxOf.get(node.id)!;
  const isActive = active.has(node.id);
  const isCurrent = node.id === leaf;
  const compound = node.type === 'compound';
  const children = layout.childrenOf.get(node.id) ?? [];
  const loop = layout.loops.find((l) => l.node === node.id);
  const sub = subtitle(node, isCurrent, isActive);
  const cls = ['dg-node', `dg-${node.type}`, node.transient ? 'dg-transient' : '', isActive ? 'dg-active' : '', isCurrent ? 'dg-current' : '']
    .filter(Boolean)
    .join(' ');
  const cx = box.x + box.w / 2;
  return (
    <g
      className={cls}
      data-state-id={node.id}
      data-active={isActive ? 'true' : 'false'}
      aria-current={isCurrent ? 'step' : undefined}
      role="group"
      aria-label={`${node.id}: ${stateLabel[node.id] ?? node.id}${isCurrent ? ' (current state)' : isActive ? ' (active)' : ''}`}
    >
      <title>{`${node.id} — ${stateLabel[node.id] ?? node.id}`}</title>
      <rect className="dg-box" x={box.x} y={box.y} width={box.w} height={box.h} rx={compound ? 12 : 8} />
      {node.type === 'final' ? <rect className="dg-box-inner" x={box.x + 3} y={box.y + 3} width={box.w - 6} height={box.h - 6} rx={6} /> : null}
      {compound ? (
        <>
          <text className="dg-name" x={box.x + 12} y={box.y + 19}>
            {node.id}
          </text>
          {sub ? (
            <text className={`dg-sub${isActive ? ' dg-sub-active' : ''}`} x={box.x + 12 + node.id.length * 7.6 + 8} y={box.y + 19}>
              {sub}
            </text>
          ) : null}
        </>
      ) : (
        <>
          <text className="dg-name" x={cx} y={box.y + (sub || loop ? 16 : box.h / 2 + 4)} textAnchor="middle">
            {node.id}
          </text>
          {sub ? (
            <text className={`dg-sub${isActive ? ' dg-sub-active' : ''}`} x={cx} y={box.y + 30} textAnchor="middle">
              {sub}
            </text>
          ) : null}
          {loop ? (
            <text
              className={`dg-loop${isActive && loop.edges.some((e) => edgeAccepted(layout.graph, e, accepted)) ? ' dg-edge-live' : ''}`}
              x={cx}
              y={box.y + (sub ? 48 : 34)}
              textAnchor="middle"
              data-edge-source={node.id}
              data-edge-target={node.id}
              data-edge-event={loop.edges.map((e) => e.label).join(' ')}
              data-live={isActive && loop.edges.some((e) => edgeAccepted(layout.graph, e, accepted)) ? 'true' : 'false'}
            >
              <title>{loop.edges.map(describeEdge).join('\n')}</title>↻ {loop.edges.map((e) => edgeText(e, false)).join(', ')}
            </text>
          ) : null}
        </>
      )}
      {children.map((c) => (
        <StateNode key={c.id} node={c} layout={layout} active={active} leaf={leaf} accepted={accepted} />
      ))}
    </g>
  );
}

/**
 * The run statechart drawn from its graph as boxes and arrows: every state with `data-state-id` and `data-active`, the
 * current one with `aria-current="step"`, and the transitions the current state accepts now lit. The same transitions
 * are listed as text for screen readers.
 */
export function MachineDiagram({ activeState, accepted, graph = DEFAULT_GRAPH }: MachineDiagramProps) {
  const layout = useMemo(() => layoutDiagram(graph), [graph]);
  const uid = useId().replace(/:/g, '');
  const active = activeIds(graph, activeState);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const anyOpenActive = [...active].some((id) => byId.get(id)?.type !== 'final');
  const arrow = `dg-arrow-${uid}`;
  const arrowLive = `dg-arrow-live-${uid}`;
  const top = graph.nodes.filter((n) => n.parent === null);

  return (
    <figure className="diagram" aria-label={`State machine "${graph.id}", current state ${activeState}`}>
      <svg className="dg-svg" viewBox={`0 0 ${layout.width} ${layout.height}`} width={layout.width} role="group" aria-label="Statechart">
        <defs>
          <marker id={arrow} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="dg-arrowhead" />
          </marker>
          <marker id={arrowLive} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="dg-arrowhead dg-arrowhead-live" />
          </marker>
        </defs>

        {top.map((n) => (
          <StateNode key={n.id} node={n} layout={layout} active={active} leaf={activeState} accepted={accepted} />
        ))}

        {layout.arrows.map((a) => {
          const live = a.edges.some((e) => active.has(e.source) && edgeAccepted(graph, e, accepted));
          return (
            <g
              key={a.key}
              className={`dg-edge${live ? ' dg-edge-live' : ''}${a.edges.every((e) => e.kind === 'always') ? ' dg-edge-always' : ''}`}
              data-edge-source={a.source}
              data-edge-target={a.target}
              data-edge-event={a.edges.map((e) => (e.kind === 'always' ? 'always' : e.label)).join(' ')}
              data-live={live ? 'true' : 'false'}
            >
              <title>{a.edges.map(describeEdge).join('\n')}</title>
              <path className="dg-line" d={pathOf(a.points)} markerEnd={a.joins ? undefined : `url(#${live ? arrowLive : arrow})`} />
              {a.label ? <Label label={a.label} className="dg-edge-label" /> : null}
            </g>
          );
        })}

        {layout.shared.map((s) => {
          const live = anyOpenActive && s.edges.some((e) => active.has(e.source) && edgeAccepted(graph, e, accepted));
          return (
            <g
              key={`${s.event}>${s.target}`}
              className={`dg-edge dg-edge-shared${live ? ' dg-edge-live' : ''}`}
              data-edge-source={s.sources.join(' ')}
              data-edge-target={s.target}
              data-edge-event={s.event}
              data-live={live ? 'true' : 'false'}
            >
              <title>{s.edges.map(describeEdge).join('\n')}</title>
              <path className="dg-line" d={pathOf(s.points)} markerEnd={`url(#${live ? arrowLive : arrow})`} />
              <Label label={s.label} className="dg-edge-label" />
            </g>
          );
        })}
      </svg>

      <ul className="sr-only" aria-label="Transitions">
        {graph.edges.map((e) => (
          <li key={e.id}>{describeEdge(e)}</li>
        ))}
      </ul>
    </figure>
  );
}
