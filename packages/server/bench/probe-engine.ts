// Scratch probe: CPU per heartbeat in-process (no HTTP), with the real store, or a store that writes nothing.
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import type { RunStore, RunDoc } from '../src/store/types.ts';
import { seedDataDir, benchSigner } from './lib/seed.ts';
const base = process.env.BASE ?? '/tmp';
const dir = await mkdtemp(join(base, 'probe-engine-'));
const n = 10000;
const seed = await seedDataDir({ dir, waiting: n, finished: 0, targetUrl: 'http://127.0.0.1:9/jobs' });
const real = new LowdbRunStore({ dir });
const mem = new Map<string, RunDoc>();
const store: RunStore = process.env.NULLSTORE
  ? { dir, load: async () => { const l = await real.load(); for (const d of l.active) mem.set(d.id, d); return l; }, commit: async (d) => { JSON.stringify(d); mem.set(d.id, d); }, read: async (id) => mem.get(id) ?? null, close: async () => {} }
  : real;
const engine = await Engine.start({ store, signer: benchSigner, docCacheSize: Number(process.env.CACHE ?? 1000) });
await engine.idle();
const N = 20000;
let i = 0;
const cpu0 = process.cpuUsage(); const t0 = performance.now();
await Promise.all(Array.from({ length: 100 }, async () => {
  while (i < N) { const w = seed.waiting[i++ % n]!; const r = await engine.heartbeat(w.runId, w.attemptId, { percent: 40 }); if (r.result !== 'accepted') throw new Error(r.result); }
}));
const cpu = process.cpuUsage(cpu0); const ms = performance.now() - t0;
console.log(process.env.NULLSTORE ? 'null store' : `real store (${base})`, 'cache', process.env.CACHE ?? 1000, Math.round(N / ms * 1000), 'hb/s', 'cpu µs/hb', Math.round((cpu.user + cpu.system) / N), 'user', Math.round(cpu.user / N), 'sys', Math.round(cpu.system / N));
await engine.stop();
