// Scratch probe: time store.load() and Engine.start on a seeded 100k dir (seeded once under /tmp/probe-load-100k).
import { existsSync } from 'node:fs';
import { Engine } from '../src/engine/engine.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { seedDataDir, benchSigner } from './lib/seed.ts';
const src = '/tmp/probe-load-100k';
if (!existsSync(src)) await seedDataDir({ dir: src, waiting: 100_000, finished: 0, targetUrl: 'http://127.0.0.1:9/jobs' });
const dir = process.env.DIR ?? src;
let t = performance.now();
const store = new LowdbRunStore({ dir });
if (process.env.ONLY_LOAD) {
  const l = await store.load();
  console.log('store.load', Math.round(performance.now() - t), 'ms', l.active.length);
} else {
  const e = await Engine.start({ store, signer: benchSigner, paused: true });
  console.log('Engine.start', Math.round(performance.now() - t), 'ms', e.activeCount);
  t = performance.now();
  e.resume();
  console.log('resume', Math.round(performance.now() - t), 'ms', e.timerCount);
  t = performance.now();
  await e.idle();
  console.log('recovery markers drained', Math.round(performance.now() - t), 'ms');
  await e.stop();
}
