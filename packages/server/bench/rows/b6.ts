/**
 * B6 callback → run.updated at a WebSocket client, with 100 clients connected. The server holds seeded waiting runs;
 * the probe process connects the clients, then sends one success callback every few ms (open loop) and times each
 * callback until every client has the run's `run.updated`.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChild } from '../lib/child.ts';
import { seedDataDir } from '../lib/seed.ts';
import { resetStats, startTether, stats, waitIdle } from '../lib/servers.ts';
import { progress, round, QUICK } from '../lib/util.ts';
import type { Row } from '../lib/row.ts';

/** What the WebSocket probe process (procs/ws-probe.ts) reports. */
export interface ProbeResult {
  clients: number;
  callbacks: number;
  expected: number;
  received: number;
  latencyMs: { n: number; p50: number; p99: number; max: number; mean: number };
  probeEventLoopMaxMs: number;
}

export async function benchStream(work: string, targetUrl: string): Promise<Row[]> {
  const clients = QUICK ? 10 : 100;
  const callbacks = QUICK ? 20 : 500;
  const warmup = QUICK ? 5 : 50;
  const paceMs = 10;
  const dir = join(work, 'b6');
  const seeded = await seedDataDir({ dir, waiting: warmup + callbacks, finished: 0, targetUrl });
  const server = await startTether('tether (stream)', dir);
  try {
    await waitIdle(server);
    progress(`B6: ${clients} WebSocket clients, ${warmup} warm-up callbacks, then ${callbacks} measured, one every ${paceMs} ms`);
    const specFile = join(work, 'b6-spec.json');
    await writeFile(specFile, JSON.stringify({ base: server.base, clients, runs: seeded.waiting, paceMs, warmup }));
    await resetStats(server);
    const r = await runChild<ProbeResult>('bench/procs/ws-probe.ts', { name: 'B6 probe', args: [specFile], timeoutMs: 5 * 60_000 });
    const st = await stats(server);
    const l = r.latencyMs;
    progress(`B6: server event loop max ${round(st.eld.maxMs, 1)} ms, probe event loop max ${round(r.probeEventLoopMaxMs, 1)} ms`);
    const complete = r.received === r.expected;
    return [
      {
        id: 'B6',
        measure: `callback POST → run.updated at each of ${clients} WebSocket clients (${callbacks} callbacks, ${1000 / paceMs}/s)`,
        figure: `p50 ${round(l.p50, 1)} ms, p99 ${round(l.p99, 1)} ms (max ${round(l.max, 1)} ms; ${r.received}/${r.expected} delivered)`,
        goal: 'p99 ≤ 20 ms',
        pass: complete && l.p99 <= 20,
        details: { ...r, paceMs, warmup, serverEventLoopMaxMs: st.eld.maxMs },
      },
    ];
  } finally {
    await server.stop();
  }
}
