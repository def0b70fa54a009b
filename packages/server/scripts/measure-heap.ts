/**
 * Heap per waiting run: n runs created and triggered (waiting for their callback, one timer each), then
 * heapUsed after a full GC, minus the baseline, divided by n. For comparison, the same for n live XState actors
 * (what the engine deliberately does not keep).
 *
 *   node --expose-gc --import tsx scripts/measure-heap.ts [n, default 20000]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActor } from 'xstate';
import { parseRunConfig, runMachine } from '@tether/machine';
import { Engine } from '../src/engine/engine.ts';
import { answeringHttpClient } from '../src/engine/http-client.ts';
import { Signer } from '../src/engine/signer.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { FileRunStore } from '../src/store/file-run-store.ts';
import type { Clock } from '../src/engine/clock.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const n = Number(process.argv[2] ?? 20_000);

const heap = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
};

const cfgResult = parseRunConfig({ name: 'heap probe', target: { url: 'http://127.0.0.1:9/jobs' }, timeoutSeconds: 3600, retryLimit: 3 });
if (!cfgResult.ok) throw new Error('bad config');
const cfg = cfgResult.value;

let now = Date.UTC(2026, 0, 1);
const clock: Clock = { now: () => now, setTimer: () => 0, clearTimer: () => {} };

const dir = await mkdtemp(join(tmpdir(), 'tether-heap-'));
try {
  const engine = await Engine.start({
    store: new FileRunStore(new LowdbRunStore({ dir })),
    signer: new Signer(Buffer.from('x'.repeat(32)), 'http://127.0.0.1:1'),
    clock,
    http: answeringHttpClient(),
  });
  // Warm every code path once so compiled code is not counted as per-run cost.
  await engine.createRun(cfg);
  await engine.idle();
  const before = await heap();
  for (let i = 0; i < n; i += 250) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 250); j++) {
      now += 1;
      batch.push(engine.createRun(cfg));
    }
    await Promise.all(batch);
    await engine.idle();
  }
  const after = await heap();
  const sample = (await engine.getDoc(engine.allSummaries()[0]!.id))!;
  if (sample.snapshot.value === null || (sample.snapshot.value as { attempt?: string }).attempt !== 'awaitingCallback')
    throw new Error(`expected waiting runs, got ${JSON.stringify(sample.snapshot.value)}`);
  const engineBytes = (after - before) / n;
  console.log(
    JSON.stringify({
      waitingRuns: n,
      active: engine.activeCount,
      timers: engine.timerCount,
      heapPerWaitingRunBytes: Math.round(engineBytes),
      runFileBytes: JSON.stringify(sample).length,
    }),
  );
  await engine.stop();

  // Reference: live actors, one per run (what the engine does not do).
  const actors = [];
  const base = await heap();
  for (let i = 0; i < n; i++) {
    const a = createActor(runMachine, { input: { runId: `run_${i}`, config: cfg, at: now } });
    a.start();
    a.send({ type: 'run.start', at: now });
    a.send({ type: 'trigger.succeeded', attemptId: `att_${i}_1`, at: now });
    actors.push(a);
  }
  const withActors = await heap();
  console.log(JSON.stringify({ liveActors: n, heapPerLiveActorBytes: Math.round((withActors - base) / n) }));
  for (const a of actors) a.stop();
} finally {
  await rm(dir, { recursive: true, force: true });
}
