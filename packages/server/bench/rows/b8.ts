/**
 * B8 launches/s: POST /api/runs (create + start committed, 201), then the engine's trigger POST to a fake external
 * system (bare Fastify answering 202, its own process) and the commit of its outcome. The load generator drives
 * the creates for a fixed time; the figure counts only launches whose trigger reached the external system and whose
 * outcome was committed, over the time until the last one was (load time + drain). The yardstick is bare Fastify
 * answering the same POST /api/runs body, in the same run, alternating.
 */
import { join } from 'node:path';
import { startBare, startTether, runLoad, resetStats, stats, waitIdle, type LoadResult } from '../lib/servers.ts';
import { getJson, progress, round, QUICK } from '../lib/util.ts';
import type { Row } from '../lib/row.ts';

export async function benchLaunches(work: string): Promise<Row[]> {
  const rounds = QUICK ? 1 : 3;
  const durationSec = QUICK ? 1 : 5;
  const connections = QUICK ? 10 : 50;
  const external = await startBare('fake external system');
  const bare = await startBare();
  const tether = await startTether('tether (launches)', join(work, 'b8'));
  const body = JSON.stringify({
    name: 'bench launch',
    target: { url: `${external.base}/jobs` },
    payload: { report: 'monthly', rows: 1200 },
    timeoutSeconds: 3600,
    retryLimit: 3,
  });
  const samples: { server: string; perSec: number; created: number; sec: number; drainSec?: number }[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const s of r % 2 === 0 ? [bare, tether] : [tether, bare]) {
        if (s === bare) {
          const res: LoadResult = await runLoad(work, { base: s.base, method: 'POST', body, connections, durationSec, paths: ['/api/runs'] });
          samples.push({ server: s.name, perSec: res.rps, created: res.statuses['201'] ?? 0, sec: res.durationSec });
          progress(`bare fastify POST /api/runs: ${Math.round(res.rps)} req/s`);
          continue;
        }
        const before = (await getJson<{ received: number }>(`${external.base}/__bench/stats`)).received;
        const runsBefore = (await stats(tether)).runs;
        await resetStats(tether);
        const t0 = performance.now();
        const res = await runLoad(work, { base: s.base, method: 'POST', body, connections, durationSec, paths: ['/api/runs'] });
        const loadEnd = performance.now();
        await waitIdle(tether); // every trigger sent and its outcome committed
        const sec = (performance.now() - t0) / 1000;
        const created = (await stats(tether)).runs - runsBefore;
        const triggered = (await getJson<{ received: number }>(`${external.base}/__bench/stats`)).received - before;
        // Requests still in flight when the load generator stops are answered after it stopped counting: the stored
        // runs are the truth. Each must have reached the external system; nothing may have been refused.
        const refused = Object.entries(res.statuses).filter(([code]) => code !== '201');
        if (refused.length || res.errors || created < (res.statuses['201'] ?? 0) || triggered < created)
          throw new Error(
            `B8: statuses ${JSON.stringify(res.statuses)}, ${res.errors} errors, ${created} runs stored, ${triggered} triggers received`,
          );
        const perSec = created / sec;
        samples.push({ server: s.name, perSec, created, sec, drainSec: (performance.now() - loadEnd) / 1000 });
        progress(
          `tether: ${created} launches triggered in ${round(sec, 1)} s = ${Math.round(perSec)}/s (drain ${round((performance.now() - loadEnd) / 1000, 1)} s)`,
        );
      }
    }
  } finally {
    await Promise.all([tether.stop(), bare.stop(), external.stop()]);
  }
  const mean = (name: string) => {
    const xs = samples.filter((s) => s.server === name).map((s) => s.perSec);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const t = mean(tether.name);
  const b = mean(bare.name);
  return [
    {
      id: 'B8',
      measure: 'launches/s: POST /api/runs → commit → trigger POST to a fake external system → outcome committed, ÷ bare Fastify POST',
      figure: `${Math.round(t)} launches/s = ${round(t / b, 2)}× (bare Fastify ${Math.round(b)} req/s)`,
      goal: '≥ 0.15×',
      pass: t / b >= 0.15,
      details: { ratio: t / b, connections, durationSec, rounds, samples },
    },
  ];
}
