/**
 * The Tether server for benchmarks: the same app `src/server.ts` runs (buildApp with settings from the environment),
 * plus a few read-only bench endpoints under /__bench that the real runner does not have:
 *   GET  /__bench/stats   event-loop delay histogram (monitorEventLoopDelay, 1 ms resolution), heap, CPU, engine counts,
 *                         and with TETHER_STORE=postgres the cluster's counters (notifications, timers taken over)
 *   POST /__bench/reset   resets the event-loop histogram (call before each measured load)
 *   GET  /__bench/idle    resolves once every queued commit and in-flight trigger has settled
 * Prints one JSON line `{"ready":true,"port":…}` once it listens.
 *
 * BENCH_PROFILE=<path>: CPU-profile the main thread from the first /__bench/reset (the first measured load) until
 * the process stops, start-up excluded, into <path>-<pid>.cpuprofile: the evidence quoted in docs/benchmarks.md.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { buildApp } from '../../src/app.ts';
import { loadSettings } from '../../src/settings.ts';

const settings = loadSettings(process.env);
const app = await buildApp({ settings, logger: { level: settings.logLevel } });
const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();
let cpuFrom = process.cpuUsage();
let wallFrom = performance.now();

app.get('/__bench/stats', async () => {
  const cpu = process.cpuUsage(cpuFrom);
  const wall = performance.now() - wallFrom;
  const engine = app.tether.engine;
  return {
    eld: { maxMs: eld.max / 1e6, p99Ms: eld.percentile(99) / 1e6, meanMs: eld.mean / 1e6, count: eld.count },
    cpuShare: (cpu.user + cpu.system) / 1000 / wall,
    heapUsed: process.memoryUsage().heapUsed,
    rss: process.memoryUsage().rss,
    memory: process.memoryUsage(),
    runs: engine.runCount,
    activeRuns: engine.activeCount,
    timers: engine.timerCount,
    // TETHER_STORE=postgres: the node's fan-out and take-over counters (cluster.ts).
    cluster: app.tether.cluster ? { ...app.tether.cluster.stats } : null,
  };
});
// One file per server process (a run starts several): <BENCH_PROFILE without .cpuprofile>-<pid>.cpuprofile
const profileFile = process.env.BENCH_PROFILE ? `${process.env.BENCH_PROFILE.replace(/\.cpuprofile$/, '')}-${process.pid}.cpuprofile` : undefined;
const session = profileFile ? new Session() : null;
let profiling = false;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
}
app.post('/__bench/reset', async () => {
  if (session && !profiling) {
    profiling = true;
    await session.post('Profiler.start');
  }
  eld.reset();
  cpuFrom = process.cpuUsage();
  wallFrom = performance.now();
  return { ok: true };
});
// Diagnosis only (started with --expose-gc): a full GC, then memory as it is live.
app.post('/__bench/gc', async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return { ok: false, why: 'start the server with --expose-gc' };
  gc();
  return { ok: true, memory: process.memoryUsage() };
});
app.get('/__bench/idle', async () => {
  await app.tether.engine.idle();
  return { ok: true };
});

await app.listen({ host: '127.0.0.1', port: settings.port });
const port = (app.server.address() as { port: number }).port;
console.log(JSON.stringify({ ready: true, port }));

const close = async () => {
  if (session && profiling) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(profileFile!, JSON.stringify(profile));
  }
  await app.close();
  process.exit(0);
};
process.on('SIGTERM', () => void close());
process.on('SIGINT', () => void close());
