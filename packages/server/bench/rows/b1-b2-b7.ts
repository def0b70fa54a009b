/**
 * B1 durable callbacks/s vs bare Fastify, B13 the same with TETHER_FSYNC=1, B2 the same with 100k vs 1k stored runs,
 * B7 the longest event-loop block inside the Tether server during the B1/B2 loads, B16 timeout lateness on the fsync
 * server while it carries the B1 load.
 *
 * The "callback" is a heartbeat to a waiting run: signed URL, JSON body, mailbox, transition (the attempt's
 * heartbeat deadline moves, so its timer is re-armed), one commit of the run, then the 200 — repeatable, because
 * the run keeps waiting. Servers run in their own processes, the load generator (autocannon) in another; loads
 * alternate between the two servers of a comparison (A B B A …) so drift from other tenants hits both.
 */
import { join } from 'node:path';
import { seedDataDir, heartbeatPath, type Seeded } from '../lib/seed.ts';
import { startBare, startTether, runLoad, resetStats, stats, waitIdle, type Server, type LoadResult } from '../lib/servers.ts';
import { getJson, postJson, progress, round, summarize, QUICK } from '../lib/util.ts';
import type { Row } from '../lib/row.ts';

const BODY = JSON.stringify({ progress: { percent: 40, step: 'rows' } });

interface Sample {
  server: string;
  rps: number;
  p99Ms: number;
  eldMaxMs: number;
  ok: number;
  total: number;
  /** Server process CPU time ÷ wall time during the load (1 = one core busy). */
  cpuShare?: number;
}

async function measure(work: string, s: Server, paths: string[], durationSec: number, connections: number, samples: Sample[]): Promise<LoadResult> {
  await resetStats(s);
  const r = await runLoad(work, { base: s.base, method: 'POST', body: BODY, connections, durationSec, paths });
  const st = await stats(s);
  const ok = r.statuses['200'] ?? 0;
  samples.push({ server: s.name, rps: r.rps, p99Ms: r.latency.p99, eldMaxMs: st.eld.maxMs, ok, total: r.total, cpuShare: st.cpuShare });
  progress(
    `${s.name}: ${Math.round(r.rps)} req/s (p99 ${r.latency.p99} ms, ${r.total - ok} not 200, event-loop max ${round(st.eld.maxMs)} ms, server CPU ${round(st.cpuShare ?? 0)} cores)`,
  );
  if (r.errors || r.total === 0 || ok < r.total * 0.999) throw new Error(`${s.name}: ${r.errors} errors, statuses ${JSON.stringify(r.statuses)}`);
  return r;
}

/** An unmeasured load first: JIT, serializer compilation and page cache are start-up, not throughput. */
async function warmUp(work: string, servers: Server[], paths: (s: Server) => string[], connections: number): Promise<void> {
  for (const s of servers)
    await runLoad(work, { base: s.base, method: 'POST', body: BODY, connections, durationSec: QUICK ? 1 : 2, paths: paths(s) });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rpsOf = (samples: Sample[], name: string) => mean(samples.filter((x) => x.server === name).map((x) => x.rps));

export async function benchThroughput(work: string, targetUrl: string): Promise<Row[]> {
  const rounds = QUICK ? 1 : 3;
  const durationSec = QUICK ? 1 : 6;
  const connections = QUICK ? 10 : 100;
  const n = { b1: QUICK ? 200 : 10_000, small: QUICK ? 50 : 1_000, large: QUICK ? 500 : 100_000 };
  const pathsOf = (s: Seeded) => s.waiting.map((w) => heartbeatPath(w.runId, w.attemptId));

  // ── B1 and B13 ──
  progress(`B1/B13: seeding ${n.b1} waiting runs twice (one data dir per server)`);
  const b1Dir = join(work, 'b1');
  const b1Seed = await seedDataDir({ dir: b1Dir, waiting: n.b1, finished: 0, targetUrl });
  const fsyncDir = join(work, 'b1-fsync');
  const fsyncSeed = await seedDataDir({ dir: fsyncDir, waiting: n.b1, finished: 0, targetUrl });
  const b1Samples: Sample[] = [];
  const bare = await startBare();
  const tether = await startTether(`tether (${n.b1} waiting)`, b1Dir);
  const synced = await startTether(`tether (${n.b1} waiting, TETHER_FSYNC=1)`, fsyncDir, { TETHER_FSYNC: '1' });
  const external = await startBare('fake external system');
  let b1Ratio: number;
  let b13Ratio: number;
  let b16: Awaited<ReturnType<typeof latencyUnderLoad>>;
  try {
    await Promise.all([waitIdle(tether), waitIdle(synced)]); // recovery markers of every run committed
    const paths = pathsOf(b1Seed);
    const fsyncPaths = pathsOf(fsyncSeed);
    const pathsFor = (s: Server) => (s === synced ? fsyncPaths : paths);
    await warmUp(work, [bare, tether, synced], pathsFor, connections);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [bare, tether, synced] : [synced, tether, bare];
      for (const s of order) await measure(work, s, pathsFor(s), durationSec, connections, b1Samples);
    }
    b1Ratio = rpsOf(b1Samples, tether.name) / rpsOf(b1Samples, bare.name);
    b13Ratio = rpsOf(b1Samples, synced.name) / rpsOf(b1Samples, bare.name);
    b16 = await latencyUnderLoad(work, synced, fsyncPaths, `${external.base}/jobs`, connections);
  } finally {
    await Promise.all([tether.stop(), synced.stop(), bare.stop(), external.stop()]);
  }

  // ── B2 ──
  progress(`B2: seeding ${n.small} and ${n.large} stored runs (${n.small} waiting in each)`);
  const smallDir = join(work, 'b2-small');
  const largeDir = join(work, 'b2-large');
  const smallSeed = await seedDataDir({ dir: smallDir, waiting: n.small, finished: 0, targetUrl });
  const largeSeed = await seedDataDir({ dir: largeDir, waiting: n.small, finished: n.large - n.small, targetUrl });
  const b2Samples: Sample[] = [];
  const small = await startTether(`tether (${n.small} stored)`, smallDir);
  const large = await startTether(`tether (${n.large} stored)`, largeDir);
  let b2Ratio: number;
  try {
    await Promise.all([waitIdle(small), waitIdle(large)]);
    await warmUp(work, [small, large], (s) => pathsOf(s === small ? smallSeed : largeSeed), connections);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [large, small] : [small, large];
      for (const s of order) await measure(work, s, pathsOf(s === small ? smallSeed : largeSeed), durationSec, connections, b2Samples);
    }
    b2Ratio = rpsOf(b2Samples, large.name) / rpsOf(b2Samples, small.name);
  } finally {
    await small.stop();
    await large.stop();
  }

  // B7 is about the default configuration: the fsync server's loads are B13's and B16's.
  const tetherSamples = [...b1Samples.filter((s) => s.server === tether.name), ...b2Samples];
  const worstBlock = Math.max(...tetherSamples.map((s) => s.eldMaxMs));
  const bareBlock = Math.max(...b1Samples.filter((s) => s.server === 'bare fastify').map((s) => s.eldMaxMs));
  return [
    {
      id: 'B1',
      measure: `durable callbacks/s (heartbeat → commit → 200) with ${n.b1} waiting runs ÷ bare Fastify JSON POST, same run, alternating`,
      figure: `${round(b1Ratio, 2)}× (${Math.round(rpsOf(b1Samples, tether.name))} vs ${Math.round(rpsOf(b1Samples, 'bare fastify'))} req/s)`,
      goal: '≥ 0.4×',
      pass: b1Ratio >= 0.4,
      details: { ratio: b1Ratio, connections, durationSec, rounds, samples: b1Samples },
    },
    {
      id: 'B13',
      measure: `B1 with TETHER_FSYNC=1 (each group commit fsynced before its 200s) ÷ bare Fastify, same run, alternating`,
      figure: `${round(b13Ratio, 2)}× (${Math.round(rpsOf(b1Samples, synced.name))} vs ${Math.round(rpsOf(b1Samples, 'bare fastify'))} req/s)`,
      goal: '≥ 0.3×',
      pass: b13Ratio >= 0.3,
      details: { ratio: b13Ratio },
    },
    {
      id: 'B16',
      measure: `timeout lateness with TETHER_FSYNC=1 under the B1 load: ${b16.n} attempt timeouts due during ${b16.loadSec} s of heartbeats to ${n.b1} waiting runs`,
      figure: `p50 ${b16.lateness.p50} ms, p99 ${b16.lateness.p99} ms, max ${b16.lateness.max} ms (${Math.round(b16.rps)} heartbeats/s meanwhile, event-loop max ${round(b16.eldMaxMs, 1)} ms)`,
      goal: 'p99 ≤ 20 ms',
      pass: b16.lateness.p99 <= 20 && b16.fired === b16.n,
      details: { ...b16 },
    },
    {
      id: 'B2',
      measure: `B1's throughput with ${n.large} stored runs ÷ with ${n.small} stored runs`,
      figure: `${round(b2Ratio, 2)} (${Math.round(rpsOf(b2Samples, large.name))} vs ${Math.round(rpsOf(b2Samples, small.name))} req/s)`,
      goal: '≥ 0.9',
      pass: b2Ratio >= 0.9,
      details: { ratio: b2Ratio, connections, durationSec, rounds, samples: b2Samples },
    },
    {
      id: 'B7',
      measure: 'longest event-loop block in the Tether server (monitorEventLoopDelay max) during B1 and B2 (fsync off)',
      figure: `${round(worstBlock, 1)} ms (bare Fastify under the same load: ${round(bareBlock, 1)} ms)`,
      goal: '≤ 20 ms',
      pass: worstBlock <= 20,
      details: { bareFastifyMaxMs: bareBlock, perLoadMaxMs: [...b1Samples, ...b2Samples].map((s) => ({ server: s.server, eldMaxMs: s.eldMaxMs })) },
    },
  ];
}

/**
 * B16: runs created through the API on `s` with callback timeouts spread over the load window (retry limit 0, so
 * each fire is a full commit: attempt timed out → run failed), then the B1 load against `s`; afterwards each run's
 * recorded `timerLatenessMs` (fire time − due time, stamped by the engine when its timer fired).
 */
async function latencyUnderLoad(work: string, s: Server, paths: string[], targetUrl: string, connections: number) {
  const n = QUICK ? 100 : 1_000;
  const loadSec = QUICK ? 3 : 8;
  // Due 3–7 s after creation (1–2 s quick): creating them takes well under the 3 s, so all fall inside the load.
  const [from, span] = QUICK ? [1, 1] : [3, 4];
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < n) {
        const i = next++;
        const run = await postJson<{ id: string }>(`${s.base}/api/runs`, {
          name: 'bench timeout under load',
          target: { url: targetUrl },
          timeoutSeconds: from + (span * i) / n,
          retryLimit: 0,
        });
        ids.push(run.id);
      }
    }),
  );
  await resetStats(s);
  const r = await runLoad(work, { base: s.base, method: 'POST', body: BODY, connections, durationSec: loadSec, paths });
  const st = await stats(s);
  await waitIdle(s);
  const late: number[] = [];
  for (const id of ids) {
    const run = await getJson<{ status: string; attempts: { timerLatenessMs: number | null }[] }>(`${s.base}/api/runs/${id}`);
    const l = run.attempts[0]?.timerLatenessMs;
    if (run.status === 'failed' && typeof l === 'number') late.push(l);
  }
  progress(`B16: ${late.length}/${n} timeouts fired under ${Math.round(r.rps)} heartbeats/s; p99 lateness ${summarize(late).p99} ms`);
  return { n, fired: late.length, loadSec, rps: r.rps, eldMaxMs: st.eld.maxMs, lateness: summarize(late) };
}
