/** Health, the machine graph for the diagram, and the OpenAPI document. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { machineGraph } from '@tether/machine';
import { Health, MachineGraph } from '@tether/machine/protocol';

const system: FastifyPluginAsyncTypebox = async (app) => {
  const { engine, storeHealth } = app.tether;
  const graph = machineGraph();

  app.get('/healthz', { schema: { summary: 'Liveness, counts, damaged runs and store write-backs', response: { 200: Health } } }, async () => {
    const damaged = engine.damagedRuns().map((d) => ({ runId: d.runId, file: d.file, reason: d.reason, since: new Date(d.since).toISOString() }));
    const wb = storeHealth().writeBack;
    const iso = (ms: number) => new Date(ms).toISOString();
    const writeBack = wb && {
      ok: wb.consecutiveFailures === 0,
      consecutiveFailures: wb.consecutiveFailures,
      ...(wb.lastError ? { lastError: { ...wb.lastError, at: iso(wb.lastError.at) } } : {}),
      ...(wb.lastSuccessAt !== null ? { lastSuccessAt: iso(wb.lastSuccessAt) } : {}),
    };
    return {
      ok: damaged.length === 0 && (writeBack?.ok ?? true),
      bootId: engine.bootId,
      startedAt: new Date(engine.startedAt).toISOString(),
      runs: engine.runCount,
      activeRuns: engine.activeCount,
      timers: engine.timerCount,
      damaged,
      store: writeBack ? { writeBack } : {},
    };
  });

  app.get(
    '/api/machine',
    { schema: { summary: 'The run statechart as nodes and edges, for drawing', response: { 200: MachineGraph } } },
    async () => graph,
  );

  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};

export default system;
