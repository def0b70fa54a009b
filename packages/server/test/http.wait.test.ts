/**
 * `?wait=` long polls against a real server: GET /api/runs/:id?wait= answers at the run's final commit (not at the
 * end of the wait), or when the wait ends with the run as it is; POST /api/runs?wait= creates and waits the same way;
 * many waiters on one run are woken by one commit; a client that goes away frees its waiter; bad waits are 400.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Run } from '@tether/machine';
import { serve, type Served } from './helpers/fuzz-server.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';

const open: Served[] = [];
let ext: FakeExternalSystem | undefined;
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  await ext?.close();
  ext = undefined;
});
const start = async () => {
  const s = await serve();
  open.push(s);
  return s;
};
const config = () => ({ target: { url: ext!.url }, timeoutSeconds: 60, retryLimit: 0 });

async function waitingRun(s: Served): Promise<{ run: Run; callbackUrl: string }> {
  const run = (await s.send('POST', '/api/runs', { json: config() })).json as Run;
  const t = await ext!.waitFor(ext!.received.length + 1);
  return { run, callbackUrl: t.body.callbackUrl };
}

describe('?wait=', () => {
  it('GET answers at the final commit, long before the wait ends, with the final run', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    const { run, callbackUrl } = await waitingRun(s);
    const t0 = Date.now();
    const waiting = s.send('GET', `/api/runs/${run.id}?wait=60`);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.app.tether.waiters.size, 'the request is waiting').toBe(1);
    expect((await s.send('POST', callbackUrl, { json: { success: true } })).status).toBe(200);
    const a = await waiting;
    expect([a.status, (a.json as Run).status]).toEqual([200, 'succeeded']);
    expect(Date.now() - t0, 'answered at the commit, not after 60 s').toBeLessThan(30_000);
    expect(s.app.tether.waiters.size).toBe(0);
  });

  it('when the wait ends first: 200 with the run as it is (still running); wait=0 and a final run answer at once', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    const { run, callbackUrl } = await waitingRun(s);
    const a = await s.send('GET', `/api/runs/${run.id}?wait=0.3`);
    expect([a.status, (a.json as Run).status]).toEqual([200, 'running']);
    expect(((await s.send('GET', `/api/runs/${run.id}?wait=0`)).json as Run).status).toBe('running');
    await s.send('POST', callbackUrl, { json: { success: false, retryable: false } });
    expect(((await s.send('GET', `/api/runs/${run.id}?wait=60`)).json as Run).status).toBe('failed');
  });

  it('POST /api/runs?wait= creates (201) and answers when the run is final (the built-in simulator calls back)', async () => {
    const s = await start();
    const a = await s.send('POST', '/api/runs?wait=30', {
      json: {
        target: { url: `${s.base}/simulator/jobs` },
        payload: { simulate: { outcome: 'success', delaySeconds: 0.2 } },
        timeoutSeconds: 20,
        retryLimit: 0,
      },
    });
    expect([a.status, (a.json as Run).status]).toEqual([201, 'succeeded']);
  });

  it('two hundred waiters on one run are all answered by its one final commit', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    const { run, callbackUrl } = await waitingRun(s);
    const all = Array.from({ length: 200 }, () => s.send('GET', `/api/runs/${run.id}?wait=60`));
    for (let i = 0; i < 100 && s.app.tether.waiters.size < 200; i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.app.tether.waiters.size).toBe(200);
    await s.send('POST', callbackUrl, { json: { success: true } });
    const answers = await Promise.all(all);
    expect(answers.every((x) => x.status === 200 && (x.json as Run).status === 'succeeded')).toBe(true);
    expect(s.app.tether.waiters.size).toBe(0);
  });

  it('a client that goes away frees its waiter', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    const { run } = await waitingRun(s);
    const ac = new AbortController();
    const req = fetch(`${s.base}/api/runs/${run.id}?wait=60`, { signal: ac.signal }).catch(() => null);
    for (let i = 0; i < 100 && s.app.tether.waiters.size < 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.app.tether.waiters.size).toBe(1);
    ac.abort();
    await req;
    for (let i = 0; i < 100 && s.app.tether.waiters.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.app.tether.waiters.size, 'freed when the client left').toBe(0);
  });

  it('a wait outside 0–60 or not a number: 400 naming query.wait', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    const { run } = await waitingRun(s);
    for (const w of ['61', '-1', 'abc', '1e3']) {
      const a = await s.send('GET', `/api/runs/${run.id}?wait=${w}`);
      expect(a.status, w).toBe(400);
      expect(
        (a.json as { error: { fields: { path: string }[] } }).error.fields.map((f) => f.path),
        w,
      ).toEqual(['query.wait']);
    }
    const c = await s.send('POST', '/api/runs?wait=99', { json: config() });
    expect(c.status).toBe(400);
    expect(((await s.send('GET', '/api/runs')).json as { runs: unknown[] }).runs, 'a bad wait creates nothing').toHaveLength(1);
  });
});
