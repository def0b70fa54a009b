/**
 * PostgreSQL itself crashes (SIGKILL) and comes back while two nodes take callbacks: meanwhile every request is
 * answered 503 (never a 200 for something not committed, never a 500), /readyz says not ready; afterwards the nodes
 * serve again by themselves, and every callback that was answered 200 before, during or after is in its run.
 * This file starts its own PostgreSQL: it kills it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Run } from '@tether/machine';
import { startPostgres, type PgServer } from './helpers/postgres.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { checkRunLog, createRun, getEvents, getRun, postCallback, startCluster, until, via, type Cluster } from './helpers/cluster.ts';

let server: PgServer;
let cluster: Cluster | null = null;
let external: FakeExternalSystem;

beforeAll(async () => {
  server = await startPostgres();
  external = await new FakeExternalSystem().start();
});
afterAll(async () => {
  await cluster?.close();
  await external?.close();
  await server?.destroy();
});

it('PostgreSQL killed mid-load: 503s and not-ready meanwhile, then the nodes recover by themselves; nothing answered 200 is lost', async () => {
  cluster = await startCluster(server.adminUrl, 2);
  const [n1, n2] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
  const runs: Run[] = await Promise.all(
    Array.from({ length: 40 }, (_, i) => createRun((i % 2 ? n2 : n1).base, { target: { url: external.url }, timeoutSeconds: 120, retryLimit: 0 })),
  );
  await until(
    'every trigger',
    async () => runs.every((r) => external.received.some((t) => t.body.attemptId === r.attempts[0]!.id)),
    (v) => v,
  );
  const urlOf = (r: Run) => external.received.find((t) => t.body.attemptId === r.attempts[0]!.id)!.body.callbackUrl;

  // One callback after another, alternating nodes, while the database dies and comes back.
  const answers = new Map<string, { status: number; result: string }[]>();
  let killed = false;
  let restarted: Promise<void> = Promise.resolve();
  const load = (async () => {
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i]!;
      for (let tries = 0; ; tries++) {
        const a = await postCallback(via((i % 2 ? n1 : n2).base, urlOf(r)), { success: true, message: `try ${tries}` }).catch(() => ({
          status: 0,
          result: 'network',
        }));
        answers.set(r.id, [...(answers.get(r.id) ?? []), a]);
        if (a.status === 200) break;
        expect(a.status, `${r.id}: while the database is away, 503 (got ${a.status} ${a.result})`).toBe(503);
        await new Promise((res) => setTimeout(res, 200));
      }
      if (i === 10) {
        await server.kill();
        killed = true;
        const ready = await fetch(`${n1.base}/readyz`);
        expect(ready.status, '/readyz while the database is down').toBe(503);
        expect(((await ready.json()) as { reason?: string }).reason).toMatch(/database/);
        // Back in 3 s; meanwhile the next callbacks are refused and retried.
        restarted = new Promise((res) => setTimeout(res, 3000)).then(() => server.start());
      }
    }
  })();
  await load;
  await restarted;
  expect(killed).toBe(true);
  const during = [...answers.values()].flat().filter((a) => a.status === 503).length;
  expect(during, 'some callbacks were refused with 503 while the database was down').toBeGreaterThan(0);
  console.log(`[pg-restart] ${during} callbacks answered 503 while PostgreSQL was down; every run then accepted its callback`);

  await until(
    'both nodes ready again',
    async () => Promise.all([n1, n2].map(async (n) => (await fetch(`${n.base}/readyz`)).status)),
    (s) => s.every((x) => x === 200),
  );
  for (const r of runs) {
    const got = await getRun(n2.base, r.id);
    expect(got.status, `${r.id}: its callback was answered 200, so it is committed`).toBe('succeeded');
    const events = await getEvents(n1.base, r.id);
    expect(checkRunLog(r.id, events)).toEqual([]);
    expect(
      events.filter((e) => e.type === 'callback.received' && e.verdict === 'applied'),
      `${r.id}: accepted once`,
    ).toHaveLength(1);
  }
  // And new work goes on.
  const fresh = await createRun(n1.base, { target: { url: external.url }, timeoutSeconds: 120, retryLimit: 0 });
  expect(fresh.status).toBe('running');
});
