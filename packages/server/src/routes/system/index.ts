/** Health, the machine graph for the diagram, and the OpenAPI document. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { machineGraph } from '@tether/machine';
import { Health, MachineGraph, Readiness } from '@tether/machine/protocol';
import Type from 'typebox';

const system: FastifyPluginAsyncTypebox = async (app) => {
  const { engine, storeHealth, settings } = app.tether;
  const graph = machineGraph();

  const healthSchema = {
    operationId: 'getHealth',
    tags: ['system'],
    security: [],
    summary: 'Liveness, counts, damaged runs and store write-backs',
    response: { 200: Health },
  };
  app.get('/healthz', { schema: healthSchema }, async () => {
    const damaged = engine.damagedRuns().map((d) => ({ runId: d.runId, file: d.file, reason: d.reason, since: new Date(d.since).toISOString() }));
    const health = await storeHealth();
    const wb = health.writeBack;
    const iso = (ms: number) => new Date(ms).toISOString();
    const writeBack = wb && {
      ok: wb.consecutiveFailures === 0,
      consecutiveFailures: wb.consecutiveFailures,
      ...(wb.lastError ? { lastError: { ...wb.lastError, at: iso(wb.lastError.at) } } : {}),
      ...(wb.lastSuccessAt !== null ? { lastSuccessAt: iso(wb.lastSuccessAt) } : {}),
    };
    return {
      ok: damaged.length === 0 && (writeBack?.ok ?? true) && health.reachable !== false,
      bootId: engine.bootId,
      startedAt: new Date(engine.startedAt).toISOString(),
      runs: engine.runCount,
      activeRuns: engine.activeCount,
      timers: engine.timerCount,
      damaged,
      node: settings.nodeId,
      store: {
        kind: health.kind,
        ...(writeBack ? { writeBack } : {}),
        ...(health.reachable !== undefined ? { reachable: health.reachable } : {}),
        ...(health.listening !== undefined ? { listening: health.listening } : {}),
      },
    };
  });

  // For a load balancer: 503 while this node cannot serve (the database unreachable), so traffic goes to another node.
  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        tags: ['system'],
        security: [],
        summary: 'Readiness: 200 when this node can serve, 503 with the reason while not',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_req, reply) => {
      const health = await storeHealth();
      const reason = health.reachable === false ? 'the database is unreachable' : engine.notReadyReason();
      if (reason) return reply.code(503).send({ ready: false, node: settings.nodeId, reason });
      return { ready: true, node: settings.nodeId };
    },
  );

  // Liveness: the process serves HTTP. Restart it only if this fails; readiness failing means "send traffic elsewhere".
  app.get(
    '/livez',
    {
      schema: {
        operationId: 'getLiveness',
        tags: ['system'],
        security: [],
        summary: 'Liveness: 200 while the process serves',
        response: { 200: Type.Object({ live: Type.Boolean() }) },
      },
    },
    async () => ({
      live: true,
    }),
  );

  app.get(
    '/api/machine',
    {
      schema: {
        operationId: 'getMachine',
        tags: ['system'],
        security: [],
        summary: 'The run statechart as nodes and edges, for drawing',
        response: { 200: MachineGraph },
      },
    },
    async () => graph,
  );

  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};

export default system;
