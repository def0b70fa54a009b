import { useMemo } from 'react';
import { machineGraph, type GraphEdge, type GraphNode, type MachineGraph } from '@tether/machine';
import { stateLabel } from '../../../lib/tones.ts';
import { layoutDiagram } from './diagramLayout.ts';

export interface MachineDiagramProps {
  /** The run's active leaf state (`run.state`). */
  activeState: string;
  /** Event types the current state accepts now (from the hydrated machine), to light up those transitions. */
  acceptedEvents?: ReadonlySet<string>;
  graph?: MachineGraph;
}

const DEFAULT_GRAPH = machineGraph();

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

function edgeAccepted(e: GraphEdge, accepted: ReadonlySet<string> | undefined): boolean {
  if (!accepted) return false;
  if (e.kind === 'on') return accepted.has(e.label);
  if (e.kind === 'after') return [...accepted].some((t) => t.startsWith(`xstate.after.${e.label}.`));
  return false;
}

function Edge({ e, live }: { e: GraphEdge; live: boolean }) {
  const label = e.kind === 'after' ? `after ${e.label}` : e.kind === 'always' ? 'always' : e.label;
  return (
    <li className={`dg-edge dg-edge-${e.kind}${live ? ' dg-edge-live' : ''}`} data-edge-event={e.label || 'always'} data-edge-target={e.target} data-live={live}>
      <span className="dg-edge-label mono">{label}</span>
      {e.guard ? <span className="dg-edge-guard mono"> [{e.guard}]</span> : null}
      <span className="dg-edge-arrow" aria-hidden="true">
        {' '}
        →{' '}
      </span>
      <span className="sr-only"> goes to </span>
      <span className="dg-edge-target mono">{e.target === e.source ? '(self)' : e.target}</span>
    </li>
  );
}

function Node({
  node,
  layout,
  active,
  leaf,
  accepted,
}: {
  node: GraphNode;
  layout: ReturnType<typeof layoutDiagram>;
  active: Set<string>;
  leaf: string;
  accepted: ReadonlySet<string> | undefined;
}) {
  const isActive = active.has(node.id);
  const children = layout.childrenOf.get(node.id) ?? [];
  const edges = layout.edgesFrom.get(node.id) ?? [];
  return (
    <div
      className={`dg-node dg-${node.type}${isActive ? ' dg-active' : ''}${node.transient ? ' dg-transient' : ''}`}
      data-state-id={node.id}
      data-active={isActive ? 'true' : 'false'}
      aria-current={node.id === leaf ? 'step' : undefined}
      role="group"
      aria-label={`${stateLabel[node.id] ?? node.id}${node.id === leaf ? ' (current state)' : isActive ? ' (active)' : ''}`}
    >
      <div className="dg-title">
        <span className="mono">{node.id}</span>
        {node.initial ? <span className="dg-tag">initial</span> : null}
        {node.type === 'final' ? <span className="dg-tag">final</span> : null}
        {node.transient ? <span className="dg-tag">passes through</span> : null}
        {node.id === leaf ? <span className="dg-tag dg-tag-current">current</span> : null}
      </div>
      {edges.length ? (
        <ul className="dg-edges" aria-label={`Transitions from ${node.id}`}>
          {edges.map((e) => (
            <Edge key={e.id} e={e} live={isActive && edgeAccepted(e, accepted)} />
          ))}
        </ul>
      ) : null}
      {children.length ? (
        <div className="dg-children">
          {children.map((c) => (
            <Node key={c.id} node={c} layout={layout} active={active} leaf={leaf} accepted={accepted} />
          ))}
        </div>
      ) : null}
    </div>
  );
}

/**
 * The run statechart drawn from its graph: every state a box with `data-state-id` and `data-active`, its outgoing
 * transitions listed inside (lit when the current state accepts them now), the current leaf marked.
 */
export function MachineDiagram({ activeState, acceptedEvents, graph = DEFAULT_GRAPH }: MachineDiagramProps) {
  const layout = useMemo(() => layoutDiagram(graph), [graph]);
  const active = activeIds(graph, activeState);
  const anyOpenActive = [...active].some((id) => graph.nodes.find((n) => n.id === id)?.type !== 'final');
  return (
    <div className="diagram" aria-label={`State machine "${graph.id}", current state ${activeState}`} role="figure">
      <div className="dg-ranks">
        {layout.ranks.map((rank, i) => (
          <div className="dg-rank" key={i}>
            {rank.map((n) => (
              <Node key={n.id} node={n} layout={layout} active={active} leaf={activeState} accepted={acceptedEvents} />
            ))}
          </div>
        ))}
      </div>
      {layout.shared.length ? (
        <div className="dg-shared">
          <span className="small muted">From any unfinished state:</span>
          <ul className="dg-edges">
            {layout.shared.map((e) => (
              <Edge key={e.id} e={e} live={anyOpenActive && edgeAccepted(e, acceptedEvents)} />
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}
