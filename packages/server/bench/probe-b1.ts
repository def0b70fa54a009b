// Scratch probe (not part of pnpm bench): B1 against one tether server with given env, printing CPU share.
import { join } from 'node:path';
import { seedDataDir, heartbeatPath } from './lib/seed.ts';
import { startTether, startBare, runLoad, resetStats, stats, waitIdle } from './lib/servers.ts';
import { withTempDir } from './lib/util.ts';
const n = Number(process.env.N ?? 10000);
const base = process.env.BASE;
await withTempDir('probe', async (work) => {
  const dir = join(base ?? work, `b1-${process.pid}`);
  const seed = await seedDataDir({ dir, waiting: n, finished: 0, targetUrl: 'http://127.0.0.1:9/jobs' });
  const paths = seed.waiting.map((w) => heartbeatPath(w.runId, w.attemptId));
  const env = JSON.parse(process.env.ENV ?? '{}');
  const t = await startTether('tether', dir, env, (process.env.NODEARGS ?? '').split(' ').filter(Boolean));
  const b = process.env.BARE ? await startBare() : null;
  await waitIdle(t);
  for (const s of b ? [b, t] : [t]) {
    await resetStats(s);
    const r = await runLoad(work, { base: s.base, method: 'POST', body: '{"progress":{"percent":40}}', connections: 100, durationSec: Number(process.env.DUR ?? 6), paths });
    const st = await stats(s);
    console.log(s.name, Math.round(r.rps), 'req/s p99', r.latency.p99, 'cpu', st.cpuShare.toFixed(2), 'eldmax', st.eld.maxMs.toFixed(1), JSON.stringify(r.statuses));
  }
  await t.stop();
  await b?.stop();
});
