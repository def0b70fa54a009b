/**
 * Idempotent start (`Idempotency-Key` on POST /api/runs and /rerun, the IETF draft's semantics) against a real server:
 * a repeat answers the same run (200, Idempotent-Replayed) and creates nothing — the external system is triggered once;
 * the same key with another body is 422; concurrent repeats create one run; keys survive a restart (file store) and are
 * unique across nodes (PostgreSQL, two nodes racing).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Run } from '@tether/machine';
import { serve, type Served } from './helpers/fuzz-server.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { createScratchDatabase, dropScratchDatabase } from './helpers/postgres.ts';

const open: Served[] = [];
let ext: FakeExternalSystem | undefined;
const dbs: string[] = [];
afterEach(async () => {
  for (const s of open.splice(0).reverse()) await s.close();
  await ext?.close();
  ext = undefined;
  for (const d of dbs.splice(0)) await dropScratchDatabase(d);
});
const start = async (...args: Parameters<typeof serve>) => {
  const s = await serve(...args);
  open.push(s);
  return s;
};
const body = () => ({ name: 'nightly', target: { url: ext!.url }, timeoutSeconds: 60, retryLimit: 1, payload: { a: 1, b: [1, 2] } });
const post = (s: Served, key: string | undefined, json: unknown, path = '/api/runs') =>
  s.send('POST', path, { json, headers: key === undefined ? {} : { 'idempotency-key': key } });

describe('Idempotency-Key on POST /api/runs', () => {
  it('the first request creates (201); a repeat with the same body answers that run (200, Idempotent-Replayed: true), creating and triggering nothing', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    const first = await post(s, 'order-4711', body());
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const run = first.json as Run;
    expect(run.idempotencyKey).toBe('order-4711');
    await ext.waitFor(1);
    // Same request, keys in another order: the same request.
    const { payload, ...rest } = body();
    const again = await post(s, 'order-4711', { payload: { b: [1, 2], a: 1 }, ...rest });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((again.json as Run).id).toBe(run.id);
    expect(payload).toBeTruthy();
    await s.idle();
    expect(ext.received, 'the external system was triggered once').toHaveLength(1);
    const list = (await s.send('GET', '/api/runs')).json as { runs: { id: string; idempotencyKey?: string }[] };
    expect(list.runs.map((r) => [r.id, r.idempotencyKey])).toEqual([[run.id, 'order-4711']]);
  });

  it('the same key with another body: 422 TETHER_IDEMPOTENCY_KEY_REUSED naming the run, nothing created', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    const run = (await post(s, 'k-1', body())).json as Run;
    const other = await post(s, 'k-1', { ...body(), retryLimit: 3 });
    expect(other.status).toBe(422);
    const err = (other.json as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('TETHER_IDEMPOTENCY_KEY_REUSED');
    expect(err.message).toContain(run.id);
    expect(((await s.send('GET', '/api/runs')).json as { runs: unknown[] }).runs).toHaveLength(1);
  });

  it('a malformed key is 400 naming the header; no key: every request creates', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    for (const bad of ['has space', 'x'.repeat(256), 'ünïcode']) {
      const a = await post(s, bad, body());
      expect(a.status, bad).toBe(400);
      expect((a.json as { error: { fields: { path: string }[] } }).error.fields.map((f) => f.path)).toEqual(['headers.idempotency-key']);
    }
    await post(s, undefined, body());
    await post(s, undefined, body());
    expect(((await s.send('GET', '/api/runs')).json as { runs: unknown[] }).runs).toHaveLength(2);
  });

  it('twenty concurrent requests with one key create one run; all answer it', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(s, 'burst', body())));
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(19).fill(200), 201]);
    expect(new Set(answers.map((a) => (a.json as Run).id)).size).toBe(1);
    await s.idle();
    expect(ext.received).toHaveLength(1);
  });

  it('keys survive a restart (file store): the repeat after it answers the same run', async () => {
    ext = await new FakeExternalSystem().start();
    const s1 = await serve();
    const run = (await post(s1, 'across-restart', body())).json as Run;
    const dataDir = s1.dataDir;
    await s1.app.close();
    const s2 = await start({ dataDir });
    const again = await post(s2, 'across-restart', body());
    expect([again.status, (again.json as Run).id]).toEqual([200, run.id]);
    expect((await post(s2, 'across-restart', { ...body(), name: 'other' })).status).toBe(422);
  });

  it('POST /api/runs/:id/rerun takes the header too', async () => {
    ext = await new FakeExternalSystem().start();
    const s = await start();
    const orig = (await post(s, undefined, body())).json as Run;
    const a = await post(s, 'rerun-1', { payload: { x: 1 } }, `/api/runs/${orig.id}/rerun`);
    const b = await post(s, 'rerun-1', { payload: { x: 1 } }, `/api/runs/${orig.id}/rerun`);
    expect([a.status, b.status, b.headers.get('idempotent-replayed')]).toEqual([201, 200, 'true']);
    expect((b.json as Run).id).toBe((a.json as Run).id);
    expect((await post(s, 'rerun-1', { payload: { x: 2 } }, `/api/runs/${orig.id}/rerun`)).status).toBe(422);
  });

  it('PostgreSQL, two nodes: concurrent requests with one key to both create one run', async () => {
    ext = await new FakeExternalSystem().start();
    const url = await createScratchDatabase();
    dbs.push(url);
    const env = { TETHER_STORE: 'postgres', TETHER_DATABASE_URL: url };
    const a = await start({ env: { ...env, TETHER_NODE_ID: 'a' } });
    const b = await start({ env: { ...env, TETHER_NODE_ID: 'b' } });
    for (let round = 0; round < 5; round++) {
      const key = `race-${round}`;
      const answers = await Promise.all([post(a, key, body()), post(b, key, body()), post(a, key, body()), post(b, key, body())]);
      expect(answers.map((x) => x.status).sort(), `round ${round}: ${answers.map((x) => x.text.slice(0, 120)).join(' | ')}`).toEqual([
        200, 200, 200, 201,
      ]);
      expect(new Set(answers.map((x) => (x.json as Run).id)).size).toBe(1);
    }
    await Promise.all([a.idle(), b.idle()]);
    expect(ext.received, 'one trigger per key').toHaveLength(5);
  });
});
