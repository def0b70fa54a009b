/** `GET /api/machine`: the run statechart as nodes and edges, for the dashboard's diagram (machineGraph() builds it). */
import Type, { type Static } from 'typebox';
import { Nullable, literals } from './schema-helpers.ts';

export const GraphNode = Type.Object(
  {
    id: Type.String({ description: "The state's key, unique in this machine: the `data-state-id` of the diagram." }),
    path: Type.String({ description: 'Dotted path from the root, e.g. `attempt.awaitingCallback`.' }),
    parent: Nullable(Type.String({ description: "The parent state's id; null for a top-level state." })),
    type: literals(['atomic', 'compound', 'parallel', 'final', 'history'] as const, 'XState node type.'),
    initial: Type.Boolean({ description: "True for its parent's initial state." }),
    transient: Type.Boolean({ description: 'True for states a run passes through without resting (timedOut, errored).' }),
  },
  { $id: 'GraphNode', description: 'A state of the run statechart.' },
);
export type GraphNode = Static<typeof GraphNode>;

export const GraphEdge = Type.Object(
  {
    id: Type.String(),
    source: Type.String({ description: 'Node id the transition leaves.' }),
    target: Type.String({ description: 'Node id it enters (the source itself for a self-transition).' }),
    kind: literals(['on', 'after', 'always'] as const, 'An event, a delay, or an eventless step.'),
    label: Type.String({ description: 'Event type for `on` edges; the delay name for `after`; empty for `always`.' }),
    guard: Nullable(Type.String({ description: 'Guard name, if the transition has one.' })),
  },
  { $id: 'GraphEdge', description: 'A transition of the run statechart.' },
);
export type GraphEdge = Static<typeof GraphEdge>;

export const MachineGraph = Type.Object(
  { id: Type.String(), nodes: Type.Array(GraphNode), edges: Type.Array(GraphEdge) },
  { $id: 'MachineGraph', description: 'The run statechart as nodes and edges.' },
);
export type MachineGraph = Static<typeof MachineGraph>;
