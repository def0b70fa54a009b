/**
 * B14 memory per waiting run and B15 warm-up, from one fresh server: `bench/procs/tether-server.ts` on an empty data
 * dir, the target a fake external system answering 202 (bare Fastify, its own process). Its RSS once it listens is
 * the idle figure. Then `bench/procs/launcher.ts` creates runs through the API in batches of 1,000 (64 requests in
 * flight; each batch timed until every trigger reached the external system and its outcome was committed), until n
 * runs wait for their callbacks (an hour each, so none times out). B14 = (RSS then − idle RSS) ÷ n; B15 = the first
 * batch's launches/s ÷ the median of the batches after the first 5,000 launches (steady).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChild } from '../lib/child.ts';
import { startBare, startTether, stats, waitIdle } from '../lib/servers.ts';
import { postJson, progress, quantile, round, sleep, QUICK } from '../lib/util.ts';
import type { Row } from '../lib/row.ts';

interface LaunchResult {
  batches: { n: number; ms: number; perSec: number }[];
  totalSec: number;
}

export async function benchMemoryAndWarmUp(work: string): Promise<Row[]> {
  // BENCH_B14_N: fewer runs while looking into one cause (the row is defined at 100k).
  const n = Number(process.env.BENCH_B14_N ?? (QUICK ? 2_000 : 100_000));
  const batch = QUICK ? 500 : 1_000;
  const steadyFrom = QUICK ? 2 : 5; // batches: the steady rate is read after the first 5,000 launches
  const external = await startBare('fake external system');
  const tether = await startTether('tether (fresh)', join(work, 'b14'), {}, process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []);
  try {
    await sleep(1_000); // start-up's own allocations settle
    const idle = await stats(tether);
    if (process.env.BENCH_TRACE_MEMORY) progress(`idle ${JSON.stringify(idle.memory)}`);
    progress(`B14/B15: idle RSS ${round(idle.rss / 2 ** 20, 1)} MiB; launching ${n} runs in batches of ${batch}, 64 in flight`);
    const spec = join(work, 'launch.json');
    const body = JSON.stringify({
      name: 'bench waiting run',
      target: { url: `${external.base}/jobs` },
      payload: { report: 'monthly', rows: 1200 },
      timeoutSeconds: 3600,
      retryLimit: 3,
    });
    await writeFile(spec, JSON.stringify({ base: tether.base, body, total: n, batch, inFlight: 64 }));
    const r = await runChild<LaunchResult>('bench/procs/launcher.ts', {
      name: 'launcher',
      args: [spec],
      timeoutMs: 30 * 60_000,
      onProgress: (line) => progress(line),
    });
    await waitIdle(tether);
    await sleep(2_000); // the write-back of the last commits (run files) is part of steady state
    const loaded = await stats(tether);
    if (process.env.BENCH_TRACE_MEMORY)
      for (let i = 0; i < 6; i++) {
        await sleep(5_000);
        progress(`+${(i + 1) * 5} s ${JSON.stringify((await stats(tether)).memory)}`);
      }
    if (process.env.BENCH_TRACE_MEMORY) progress(`after a full GC ${JSON.stringify(await postJson(`${tether.base}/__bench/gc`))}`);
    if (loaded.activeRuns < n) throw new Error(`B14: ${loaded.activeRuns} active runs after launching ${n}`);
    if (process.env.BENCH_TRACE_MEMORY) progress(`loaded ${JSON.stringify(loaded.memory)}`);
    const perRun = (loaded.rss - idle.rss) / n;
    const first = r.batches[0]!.perSec;
    const steadyRates = r.batches
      .slice(steadyFrom)
      .map((b) => b.perSec)
      .sort((a, b) => a - b);
    const steady = quantile(steadyRates, 0.5);
    const warm = first / steady;
    return [
      {
        id: 'B14',
        measure: `RSS growth per waiting run: ${n} runs launched through the API into a fresh server, (RSS then − idle RSS) ÷ n`,
        figure: `${round(perRun / 1024, 2)} KiB (RSS ${round(idle.rss / 2 ** 20)} → ${round(loaded.rss / 2 ** 20)} MiB; heap ${round(idle.heapUsed / 2 ** 20)} → ${round(loaded.heapUsed / 2 ** 20)} MiB)`,
        goal: '≤ 4 KiB',
        pass: perRun <= 4 * 1024,
        details: { n, idle: idle.memory, loaded: loaded.memory, perRunBytes: perRun },
      },
      {
        id: 'B15',
        measure: `warm-up: launches/s of the first ${batch} after a start ÷ steady launches/s (median of the batches after the first ${steadyFrom * batch})`,
        figure: `${round(warm, 2)} (first ${Math.round(first)}/s, steady ${Math.round(steady)}/s; batches 1–5: ${r.batches
          .slice(0, 5)
          .map((b) => Math.round(b.perSec))
          .join(', ')}/s)`,
        goal: '≥ 0.8',
        pass: warm >= 0.8,
        details: { batch, steadyFrom, totalSec: r.totalSec, batches: r.batches.map((b) => Math.round(b.perSec)) },
      },
    ];
  } finally {
    await Promise.all([tether.stop(), external.stop()]);
  }
}
