// Scratch probe: B6 with server stderr/stdout captured (trace flags via NODEARGS).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChild } from './lib/child.ts';
import { seedDataDir } from './lib/seed.ts';
import { resetStats, startTether, stats, waitIdle } from './lib/servers.ts';
import { withTempDir } from './lib/util.ts';
await withTempDir('probe6', async (work) => {
  const dir = join(work, 'b6');
  const seeded = await seedDataDir({ dir, waiting: 500, finished: 0, targetUrl: 'http://127.0.0.1:9/jobs' });
  const server = await startTether('tether', dir, JSON.parse(process.env.ENV ?? '{}'), (process.env.NODEARGS ?? '').split(' ').filter(Boolean));
  let out = '';
  server.child.proc.stdout!.on('data', (d) => (out += d));
  await waitIdle(server);
  const specFile = join(work, 'spec.json');
  await writeFile(specFile, JSON.stringify({ base: server.base, clients: 100, runs: seeded.waiting, paceMs: 10 }));
  await resetStats(server);
  out = '';
  const r = await runChild<any>('bench/procs/ws-probe.ts', { name: 'probe', args: [specFile] });
  const st = await stats(server);
  console.log(JSON.stringify(r.latencyMs), 'server eld max', st.eld.maxMs);
  await writeFile('/tmp/b6-server-out.txt', out);
  await server.stop();
});
