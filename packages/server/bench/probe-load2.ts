// Scratch probe: phases of a clean restart with 100k waiting runs (checkpoint present).
import { Engine } from '../src/engine/engine.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { benchSigner } from './lib/seed.ts';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
const dir = process.env.DIR!;
if (process.env.PREP) {
  const e = await Engine.start({ store: new LowdbRunStore({ dir }), signer: benchSigner, paused: true, recoveryConcurrency: 1 });
  await e.stop();
  console.log('prepared checkpoint');
} else {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const t = performance.now();
  const e = await Engine.start({ store: new LowdbRunStore({ dir }), signer: benchSigner, paused: true, recoveryConcurrency: 1 });
  e.resume();
  console.log('start+resume', Math.round(performance.now() - t), 'ms', e.activeCount, e.timerCount);
  const { profile } = await session.post('Profiler.stop');
  writeFileSync('/tmp/prof/clean.cpuprofile', JSON.stringify(profile));
  process.exit(0);
}
