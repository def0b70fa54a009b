/**
 * B3 and B4, in one process (run with --expose-gc): an in-process engine on the real lowdb store in a temp dir.
 *
 * B3: n runs are created the normal way (createRun → trigger POST answered 202 → awaiting callback, one armed
 *     timer each); heap after a full GC, minus the baseline, divided by n.
 * B4: the same n callback timeouts were armed at absolute due times spread evenly over a window; the clock jumps
 *     forward to just before the window and every timeout fires for real. Lateness is what the engine records on
 *     each attempt (`timerLatenessMs` = fire time − due time).
 *
 *   node --expose-gc --import tsx bench/procs/timers-heap.ts <n> <windowMs> [base dir for the data dir]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Engine } from '../../src/engine/engine.ts';
import { answeringHttpClient } from '../../src/engine/http-client.ts';
import { Signer } from '../../src/engine/signer.ts';
import { LowdbRunStore } from '../../src/store/lowdb-store.ts';
import { FileRunStore } from '../../src/store/file-run-store.ts';
import { benchConfig } from '../lib/seed.ts';
import { JumpClock } from '../lib/jump-clock.ts';
import { summarize } from '../lib/util.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const n = Number(process.argv[2] ?? 100_000);
const windowMs = Number(process.argv[3] ?? 20_000);
const say = (progress: string) => console.log(JSON.stringify({ progress }));

const heap = async () => {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
};

/**
 * The machine's floor: the same number of plain setTimeouts due over the same window, nothing else running, lateness
 * measured the same way (ms after due, by Date.now()).
 */
async function bareTimers(count: number, window: number) {
  const late: number[] = [];
  const start = Date.now() + 1000;
  await new Promise<void>((resolve) => {
    let left = count;
    for (let i = 0; i < count; i++) {
      const due = start + Math.floor((i * window) / count);
      setTimeout(() => {
        late.push(Math.max(0, Date.now() - due));
        if (--left === 0) resolve();
      }, due - Date.now());
    }
  });
  return summarize(late);
}

const clock = new JumpClock();
const dir = await mkdtemp(join(process.argv[4] ?? tmpdir(), 'tether-bench-timers-'));
const HOUR = 3_600_000;
try {
  const engine = await Engine.start({
    store: new FileRunStore(new LowdbRunStore({ dir })),
    signer: new Signer(Buffer.from('x'.repeat(32)), 'http://127.0.0.1:1'),
    clock,
    http: answeringHttpClient(),
  });
  const cfgFor = (timeoutMs: number) =>
    benchConfig('http://127.0.0.1:9/jobs', { timeoutSeconds: timeoutMs / 1000, heartbeatTimeoutSeconds: undefined, retryLimit: 0 });
  // Warm every code path once so compiled code is not counted as per-run cost.
  for (let i = 0; i < 50; i++) await engine.createRun(cfgFor(HOUR));
  await engine.idle();
  const warm = engine.runCount;
  const before = await heap();

  // Timeouts due evenly over [windowStart, windowStart + windowMs), an hour from now.
  const windowStart = clock.now() + HOUR;
  const dueOf = (i: number) => windowStart + Math.floor((i * windowMs) / n);
  const t0 = performance.now();
  const BATCH = 250;
  for (let i = 0; i < n; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) batch.push(engine.createRun(cfgFor(dueOf(j) - clock.now())));
    await Promise.all(batch);
    await engine.idle();
    if ((i / BATCH) % 40 === 0) say(`created ${Math.min(n, i + BATCH)}/${n} runs`);
  }
  const createSec = (performance.now() - t0) / 1000;
  const after = await heap();
  const waiting = engine.listRuns({ limit: 500 }).runs.filter((s) => s.state === 'awaitingCallback').length;
  if (engine.timerCount !== n + warm || waiting !== Math.min(500, n + warm))
    throw new Error(`expected ${n + warm} waiting runs with one timer each, got ${engine.timerCount} timers`);
  const heapPerRun = (after - before) / n;
  say(`B3: ${Math.round(heapPerRun)} B per waiting run; now firing ${n} timeouts over ${windowMs} ms`);

  // B4: fire them. Lateness as the engine records it on the attempt.
  const lateness: number[] = [];
  let fired = 0;
  let done!: () => void;
  const allFired = new Promise<void>((r) => (done = r));
  // Reads the committed document, not the API view (which would sign two URLs per update): the bench must not add
  // its own work to the event loop it is measuring.
  engine.subscribe((u) => {
    const e = u.events[0];
    if (e?.source !== 'timer') return;
    const attempts = u.doc.snapshot.context.attempts;
    const late = attempts[attempts.length - 1]?.timerLatenessMs;
    if (late !== null && late !== undefined) lateness.push(late);
    if (++fired === n + warm) done();
  });
  const eld = monitorEventLoopDelay({ resolution: 1 });
  clock.jump(windowStart - clock.now() - 1000);
  eld.enable();
  const f0 = performance.now();
  const guard = setTimeout(() => done(), windowMs + 120_000);
  await allFired;
  clearTimeout(guard);
  const fireSec = (performance.now() - f0) / 1000;
  eld.disable();
  await engine.idle();
  await engine.stop();
  const s = summarize(lateness);
  const reference = await bareTimers(Math.min(n, 100_000), windowMs);
  console.log(
    JSON.stringify({
      n,
      createSec,
      createRunsPerSec: n / createSec,
      heapPerWaitingRunBytes: heapPerRun,
      windowMs,
      fired,
      fireSec,
      lateness: s,
      eldMaxMs: eld.max / 1e6,
      bareNodeTimers: reference,
    }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
