import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { attemptIdFor } from '@tether/machine';
import { withPostgres, startPgNode, procCpuSec } from './lib/pg.ts';
import { startBare, runLoad, waitIdle } from './lib/servers.ts';
import { heartbeatPath } from './lib/seed.ts';
import { postJson, sleep } from './lib/util.ts';

const work = await mkdtemp(join(tmpdir(), 'exp-'));
const ext = await startBare('ext');
await withPostgres(async (pg) => {
  const db = await pg.database();
  if (process.env.SC_OFF) {
    const c = new (await import('pg')).default.Client({ connectionString: pg.server.adminUrl });
    await c.connect();
    await c.query(`ALTER DATABASE ${db.name} SET synchronous_commit = off`);
    await c.end();
  }
  const a = await startPgNode('a', join(work, 'a'), db.url, 'a');
  try {
    const body = {
      name: 'bench job',
      target: { url: `${ext.base}/jobs` },
      payload: { report: 'monthly', rows: 1200 },
      timeoutSeconds: 3600,
      heartbeatTimeoutSeconds: 600,
      retryLimit: 3,
    };
    const n = Number(process.env.N ?? 2000);
    const t0 = performance.now();
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < n) {
          next++;
          const r = await postJson<{ id: string }>(`${a.base}/api/runs`, body);
          ids.push(r.id);
        }
      }),
    );
    console.log('created', n, 'in', (performance.now() - t0) / 1000);
    await waitIdle(a);
    console.log('idle', (performance.now() - t0) / 1000);
    const paths = ids.map((id) => heartbeatPath(id, attemptIdFor(id, 1)));
    const body2 = JSON.stringify({ progress: { percent: 40, step: 'rows' } });
    await runLoad(work, { base: a.base, method: 'POST', body: body2, connections: 100, durationSec: 2, paths });
    await sleep(1000);
    const s0 = await pg.sample(db.name);
    const c0 = await procCpuSec(a.child.proc.pid!);
    const pgm = (await import('pg')).default;
    const mon = new pgm.Client({ connectionString: pg.server.adminUrl });
    await mon.connect();
    const hist: Record<string, number> = {};
    let on = true;
    const poll = (async () => {
      while (on) {
        const q = await mon.query(
          "SELECT coalesce(wait_event_type,'-')||':'||coalesce(wait_event,'-')||':'||state AS k, left(query,40) AS q FROM pg_stat_activity WHERE datname=$1 AND backend_type='client backend' AND state <> 'idle'",
          [db.name],
        );
        for (const r of q.rows) {
          const k = r.k + ' ' + r.q;
          hist[k] = (hist[k] ?? 0) + 1;
        }
        await sleep(20);
      }
    })();
    const r = await runLoad(work, { base: a.base, method: 'POST', body: body2, connections: 100, durationSec: 5, paths });
    on = false;
    await poll;
    await mon.end();
    console.log(
      Object.entries(hist)
        .sort((x, y) => y[1] - x[1])
        .slice(0, 15),
    );
    const s1 = await pg.sample(db.name);
    const c1 = await procCpuSec(a.child.proc.pid!);
    console.log('load', r.rps, r.total, r.latency, r.statuses, 'node cpu', c1 - c0, 'pg cpu', s1.cpuSec - s0.cpuSec);
    console.log('immediately xact', s1.xactCommit - s0.xactCommit, 'xid', s1.nextXid - s0.nextXid, 'wal', s1.walBytes - s0.walBytes);
    for (const ms of [] as number[]) {
      await sleep(ms - (ms > 500 ? [500, 1000, 1500, 3000, 6000, 11000][[500, 1000, 1500, 3000, 6000, 11000].indexOf(ms) - 1]! : 0));
      const s = await pg.sample(db.name);
      console.log(`+${ms} xact`, s.xactCommit - s0.xactCommit, 'xid', s.nextXid - s0.nextXid);
    }
  } finally {
    await a.stop();
  }
});
await ext.stop();
