/** Health, the machine graph for the diagram, and the OpenAPI document. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { machineGraph } from '@tether/machine';

const Health = Type.Object({
  ok: Type.Boolean(),
  bootId: Type.String({ description: 'Changes at every start.' }),
  startedAt: Type.String({ format: 'date-time' }),
  runs: Type.Integer({ description: 'Runs stored.' }),
  activeRuns: Type.Integer({ description: 'Runs not final.' }),
  timers: Type.Integer({ description: 'Timers armed.' }),
});

const GraphNode = Type.Object({
  id: Type.String(),
  path: Type.String(),
  parent: Type.Union([Type.String(), Type.Null()]),
  type: Type.String(),
  initial: Type.Boolean(),
  transient: Type.Boolean(),
});
const GraphEdge = Type.Object({
  id: Type.String(),
  source: Type.String(),
  target: Type.String(),
  kind: Type.String(),
  label: Type.String(),
  guard: Type.Union([Type.String(), Type.Null()]),
});
const Graph = Type.Object({ id: Type.String(), nodes: Type.Array(GraphNode), edges: Type.Array(GraphEdge) });

const system: FastifyPluginAsyncTypebox = async (app) => {
  const { engine } = app.tether;
  const graph = machineGraph();

  app.get('/healthz', { schema: { summary: 'Liveness and counts', response: { 200: Health } } }, async () => ({
    ok: true,
    bootId: engine.bootId,
    startedAt: new Date(engine.startedAt).toISOString(),
    runs: engine.runCount,
    activeRuns: engine.activeCount,
    timers: engine.timerCount,
  }));

  app.get('/api/machine', { schema: { summary: 'The run statechart as nodes and edges, for drawing', response: { 200: Graph } } }, async () => graph);

  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};

export default system;
