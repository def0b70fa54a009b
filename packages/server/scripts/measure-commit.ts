/**
 * Commit cost vs stored history: is committing one run as cheap with 100k runs on disk as with 1k?
 *
 *   node --import tsx scripts/measure-commit.ts [stored counts, default 1000,100000] [commits, default 2000]
 *   (run one count per process for the cleanest numbers: …measure-commit.ts 1000; …measure-commit.ts 100000)
 *   TETHER_FSYNC=1 node --import tsx scripts/measure-commit.ts      # with file + directory fsync
 *
 * For each count N: a temp data dir is filled with N finished runs (run files + index lines, as the store writes
 * them), the store is opened (load + index compaction, timed), then M commits of live runs are timed one after
 * another, both at the store (LowdbRunStore.commit) and through the engine (a heartbeat: hydrate → transition →
 * commit → notify). Prints mean and p50/p99 in µs.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { initialTransition, transition } from 'xstate';
import { attemptIdFor, leafState, parseRunConfig, runMachine, toRunSummary, type RunEvent, type RunEventEntry } from '@tether/machine';
import { Engine } from '../src/engine/engine.ts';
import { answeringHttpClient } from '../src/engine/http-client.ts';
import { Signer } from '../src/engine/signer.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { FileRunStore } from '../src/store/file-run-store.ts';
import type { PersistedRunSnapshot, RunDoc } from '../src/store/types.ts';
import type { Clock } from '../src/engine/clock.ts';

const counts = (process.argv[2] ?? '1000,100000').split(',').map(Number);
const M = Number(process.argv[3] ?? 2000);
const fsync = process.env.TETHER_FSYNC === '1';
const T0 = Date.UTC(2026, 0, 1);

const cfg = (() => {
  const r = parseRunConfig({
    name: 'measure',
    target: { url: 'http://127.0.0.1:9/jobs' },
    timeoutSeconds: 3600,
    retryLimit: 3,
    heartbeatTimeoutSeconds: 600,
  });
  if (!r.ok) throw new Error('bad config');
  return r.value;
})();

/** A finished run (created, started, triggered, called back): what most of a long history is. */
function finishedDoc(runId: string): RunDoc {
  const input = { runId, config: cfg, at: T0 };
  let [snap] = initialTransition(runMachine, input);
  const events: RunEventEntry[] = [
    { seq: 0, at: new Date(T0).toISOString(), type: 'run.created', source: 'api', verdict: 'recorded', stateAfter: 'idle' },
  ];
  const attemptId = attemptIdFor(runId, 1);
  const script: RunEvent[] = [
    { type: 'run.start', at: T0 },
    { type: 'trigger.succeeded', attemptId, at: T0 + 20 },
    { type: 'callback.received', attemptId, success: true, message: 'done', at: T0 + 5000 },
  ];
  for (const event of script) {
    [snap] = transition(runMachine, snap, event);
    events.push({
      seq: events.length,
      at: new Date(event.at).toISOString(),
      type: event.type,
      source: 'api',
      verdict: 'applied',
      stateAfter: leafState(snap.value),
      event,
    });
  }
  const snapshot = JSON.parse(JSON.stringify(runMachine.getPersistedSnapshot(snap))) as PersistedRunSnapshot;
  return { v: 1, id: runId, input, rerunOf: null, snapshot, timers: [], outbox: [], events };
}

const idFor = (n: number) => `run_${(T0 + n).toString(36).padStart(9, '0')}${n.toString(32).padStart(8, '0')}`;

async function fill(dir: string, n: number): Promise<number> {
  await mkdir(join(dir, 'runs'), { recursive: true });
  const template = JSON.stringify(finishedDoc(idFor(0)));
  const templateSummary = JSON.stringify(toRunSummary(finishedDoc(idFor(0)).snapshot));
  const from = idFor(0);
  const lines: string[] = [];
  const t = performance.now();
  for (let i = 0; i < n; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 500); j++) {
      const id = idFor(j);
      batch.push(writeFile(join(dir, 'runs', `${id}.json`), template.replaceAll(from, id)));
      lines.push(templateSummary.replaceAll(from, id));
    }
    await Promise.all(batch);
  }
  await writeFile(join(dir, 'index.jsonl'), `${lines.join('\n')}\n`);
  return performance.now() - t;
}

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { meanUs: Math.round(mean * 1000), p50Us: Math.round(q(0.5) * 1000), p99Us: Math.round(q(0.99) * 1000) };
}

/** A clock whose timers never fire: nothing times out during the measurement. */
let now = T0 + 10_000;
const clock: Clock = { now: () => now, setTimer: () => 0, clearTimer: () => {} };

for (const n of counts) {
  const dir = await mkdtemp(join(tmpdir(), 'tether-measure-'));
  try {
    const fillMs = await fill(dir, n);

    // Store level: commit M documents of live runs, one after another.
    const store = new LowdbRunStore({ dir, fsync });
    let t = performance.now();
    await store.load();
    const loadMs = performance.now() - t;
    const live = Array.from({ length: 100 }, (_, i) => finishedDoc(idFor(10_000_000 + i)));
    // Warm up (JIT, page cache) so the first count measured is not penalised.
    for (let i = 0; i < 300; i++) await store.commit(live[i % live.length]!, toRunSummary(live[0]!.snapshot));
    const storeSamples: number[] = [];
    for (let i = 0; i < M; i++) {
      const doc = live[i % live.length]!;
      t = performance.now();
      await store.commit(doc, toRunSummary(doc.snapshot));
      storeSamples.push(performance.now() - t);
    }
    await store.close();

    // Engine level: heartbeats to waiting runs (hydrate, transition, commit, notify).
    const engine = await Engine.start({
      store: new FileRunStore(new LowdbRunStore({ dir, fsync })),
      signer: new Signer(Buffer.from('x'.repeat(32)), 'http://127.0.0.1:1'),
      clock,
      http: answeringHttpClient(),
    });
    const runs = [];
    for (let i = 0; i < 100; i++) runs.push(await engine.createRun(cfg));
    await engine.idle();
    const engineSamples: number[] = [];
    for (let i = 0; i < M; i++) {
      const r = runs[i % runs.length]!;
      now += 1;
      t = performance.now();
      const out = await engine.heartbeat(r.id, r.attempts[0]!.id, { i });
      engineSamples.push(performance.now() - t);
      if (out.result !== 'accepted') throw new Error(`heartbeat ${out.result}`);
    }
    await engine.stop();
    console.log(
      JSON.stringify({
        storedRuns: n,
        fsync,
        fillMs: Math.round(fillMs),
        loadMs: Math.round(loadMs),
        commits: M,
        storeCommit: stats(storeSamples),
        engineHeartbeat: stats(engineSamples),
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
