/**
 * The yardstick: bare Fastify 5 with one JSON POST route shaped like the callback webhook (same path, same body,
 * a reply of the same shape), no validation, no storage. Also the fake external system for B8 (`--target`):
 * POST /jobs answers 202 and counts what it received.
 * Prints one JSON line `{"ready":true,"port":…}` once it listens.
 */
import Fastify from 'fastify';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const app = Fastify({ logger: false });
let received = 0;
let cpuFrom = process.cpuUsage();
let wallFrom = performance.now();
const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();

app.post('/api/callbacks/:runId/:attemptId/heartbeat', async (req) => {
  const { attemptId } = req.params as { attemptId: string };
  return { result: 'accepted', attemptId, message: 'Heartbeat accepted.' };
});
// The same shape as POST /api/runs: a JSON body in, 201 with a JSON body out.
app.post('/api/runs', async (req, reply) => {
  const body = req.body as { name?: string };
  return reply.code(201).send({ id: `run_${(++received).toString(36)}`, name: body?.name ?? '', status: 'running', state: 'triggering' });
});
app.post('/jobs', async (_req, reply) => {
  received++;
  return reply.code(202).send({ accepted: true });
});
app.get('/__bench/stats', async () => {
  const cpu = process.cpuUsage(cpuFrom);
  return {
    received,
    eld: { maxMs: eld.max / 1e6, p99Ms: eld.percentile(99) / 1e6 },
    cpuShare: (cpu.user + cpu.system) / 1000 / (performance.now() - wallFrom),
  };
});
app.post('/__bench/reset', async () => {
  eld.reset();
  cpuFrom = process.cpuUsage();
  wallFrom = performance.now();
  return { ok: true };
});

await app.listen({ host: '127.0.0.1', port: 0 });
console.log(JSON.stringify({ ready: true, port: (app.server.address() as { port: number }).port }));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
