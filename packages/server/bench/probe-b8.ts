// Scratch probe: B8 against one tether server (NODEARGS for profiling).
import { join } from 'node:path';
import { startTether, startBare, runLoad, waitIdle, stats } from './lib/servers.ts';
import { withTempDir } from './lib/util.ts';
await withTempDir('probe8', async (work) => {
  const ext = await startBare('ext');
  const t = await startTether('tether', join(process.env.BASE ?? work, `d${process.pid}`), JSON.parse(process.env.ENV ?? '{}'), (process.env.NODEARGS ?? '').split(' ').filter(Boolean));
  const body = JSON.stringify({ name: 'x', target: { url: `${ext.base}/jobs` }, timeoutSeconds: 3600, retryLimit: 3 });
  await (await import('./lib/servers.ts')).resetStats(t);
  const t0 = performance.now();
  const r = await runLoad(work, { base: t.base, method: 'POST', body, connections: 50, durationSec: Number(process.env.DUR ?? 6), paths: ['/api/runs'] });
  await waitIdle(t);
  const st = await stats(t);
  console.log('runs', st.runs, 'per s', Math.round(st.runs / ((performance.now() - t0) / 1000)), 'rps', Math.round(r.rps), 'p99', r.latency.p99, 'cpu', st.cpuShare.toFixed(2), JSON.stringify(r.statuses));
  await t.stop(); await ext.stop();
});
