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
  damaged: Type.Array(
    Type.Object({
      runId: Type.String(),
      file: Type.String({ description: 'The run file that is missing or does not parse.' }),
      reason: Type.String(),
      since: Type.String({ format: 'date-time', description: 'When this server found it.' }),
    }),
    { description: 'Quarantined runs: every request about one answers TETHER_RUN_DAMAGED until its file is repaired or restored and Tether restarted. `ok` is false while any is listed.' },
  ),
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

  app.get('/healthz', { schema: { summary: 'Liveness, counts and damaged runs', response: { 200: Health } } }, async () => {
    const damaged = engine.damagedRuns().map((d) => ({ runId: d.runId, file: d.file, reason: d.reason, since: new Date(d.since).toISOString() }));
    return {
      ok: damaged.length === 0,
      bootId: engine.bootId,
      startedAt: new Date(engine.startedAt).toISOString(),
      runs: engine.runCount,
      activeRuns: engine.activeCount,
      timers: engine.timerCount,
      damaged,
    };
  });

  app.get('/api/machine', { schema: { summary: 'The run statechart as nodes and edges, for drawing', response: { 200: Graph } } }, async () => graph);

  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};

export default system;
