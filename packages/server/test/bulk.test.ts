/**
 * The bulk actions through a real listening server (a fake external system on loopback; time is a ManualClock):
 * per-run outcomes for ids of every kind (open, final, in backoff, unknown, damaged), in the order given; a filter in
 * list order; a dry run that changes nothing and agrees with the real one; a filter matching too many (422, nothing
 * done); bad bodies (one 400 naming every field); rerun's new runs with their rerunOf; the token.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BulkResult, BulkRunResult, ErrorBody, Run, RunConfig, RunList } from '@tether/machine/protocol';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { startServer, type TestServer } from './helpers/http-app.ts';
import { serve } from './helpers/fuzz-server.ts';
import { tempDir } from './helpers/engine.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const UNKNOWN = 'run_0000000000doesnotexist';

let ext: FakeExternalSystem;
let clock: ManualClock;
let s: TestServer;

beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
  clock = new ManualClock();
  s = await startServer({ clock });
});
afterEach(async () => {
  await s.close();
  await ext.close();
});

const bulk = (action: string, body: unknown) => s.request<BulkResult & ErrorBody>('POST', `/api/runs/bulk/${action}`, { json: body });
const ok = async (action: string, body: unknown): Promise<BulkResult> => {
  const res = await bulk(action, body);
  expect(res.status, res.text).toBe(200);
  return res.body;
};
/** The outcomes without the ids of new runs: what a dry run predicts, `eligible` standing for `done`. */
const predicted = (r: BulkResult) => r.results.map(({ newRunId: _, ...x }) => (r.dryRun && x.outcome === 'eligible' ? { ...x, outcome: 'done' } : x));

async function awaiting(cfg: Partial<RunConfig> = {}): Promise<Run> {
  const created = await s.createRun({ target: { url: ext.url }, ...cfg });
  await s.idle();
  const run = await s.run(created.id);
  expect(run.state).toBe('awaitingCallback');
  return run;
}
async function succeeded(cfg: Partial<RunConfig> = {}): Promise<Run> {
  const run = await awaiting(cfg);
  expect((await s.post(run.attempts[0]!.callbackUrl!, { json: { success: true } })).status).toBe(200);
  return s.run(run.id);
}
/** Everything the server knows of a run: its document and its log, to see that nothing changed. */
const snapshot = async (id: string) => ({ run: await s.run(id), events: await s.events(id) });

describe('POST /api/runs/bulk/cancel', () => {
  it('ids of every kind: one result each, in the order given; the dry run changes nothing and predicts the real one', async () => {
    const open = await awaiting();
    const done = await succeeded();
    const cancelled = await awaiting();
    expect((await s.request('POST', `/api/runs/${cancelled.id}/cancel`, { json: {} })).status).toBe(200);
    const other = await awaiting();
    const ids = [done.id, open.id, UNKNOWN, cancelled.id, other.id];
    const before = await Promise.all([open, done, cancelled, other].map((r) => snapshot(r.id)));

    const dry = await ok('cancel', { ids, dryRun: true, reason: 'cleanup' });
    expect(dry).toEqual({
      action: 'cancel',
      dryRun: true,
      matched: 5,
      counts: { done: 0, eligible: 2, skipped: 2, failed: 1 },
      results: [
        { id: done.id, outcome: 'skipped', code: 'TETHER_RUN_FINAL', reason: 'already final (succeeded)' },
        { id: open.id, outcome: 'eligible' },
        { id: UNKNOWN, outcome: 'failed', code: 'TETHER_RUN_NOT_FOUND', reason: 'no such run' },
        { id: cancelled.id, outcome: 'skipped', code: 'TETHER_RUN_FINAL', reason: 'already final (cancelled)' },
        { id: other.id, outcome: 'eligible' },
      ],
    });
    expect(await Promise.all([open, done, cancelled, other].map((r) => snapshot(r.id))), 'a dry run changes nothing').toEqual(before);

    clock.advance(2_000);
    const real = await ok('cancel', { ids, reason: 'cleanup' });
    expect(real.dryRun).toBe(false);
    expect(real.counts).toEqual({ done: 2, eligible: 0, skipped: 2, failed: 1 });
    expect(predicted(real)).toEqual(predicted(dry));
    for (const r of [open, other]) {
      const now = await snapshot(r.id);
      expect(now.run).toMatchObject({ status: 'cancelled', finishedAt: iso(clock.now()), overallState: 'Cancelled during attempt 1: cleanup' });
      // The single route's engine call: an applied run.cancel from the API.
      expect(now.events.at(-1)).toMatchObject({ type: 'run.cancel', source: 'api', verdict: 'applied' });
    }
    // A run refused in its state is not written to (the single route would record its refusal).
    expect(await snapshot(done.id)).toEqual(before[1]);
    expect(await snapshot(cancelled.id)).toEqual(before[2]);
  });

  it('many runs at once: the results keep the order given, whatever order the runs finish in', async () => {
    const runs: Run[] = [];
    for (let i = 0; i < 30; i++) runs.push(await s.createRun({ name: `n${i}`, target: { url: ext.url } }));
    await s.idle();
    for (const r of runs.filter((_, i) => i % 3 === 0)) expect((await s.request('POST', `/api/runs/${r.id}/cancel`, { json: {} })).status).toBe(200);
    // Interleaved: the final ones answer at once, the others after a commit each.
    const ids = runs.map((r) => r.id).sort((a, b) => (a.slice(-3) < b.slice(-3) ? -1 : 1));
    const real = await ok('cancel', { ids });
    expect(real.results.map((r) => r.id)).toEqual(ids);
    const wasFinal = new Set(runs.filter((_, i) => i % 3 === 0).map((r) => r.id));
    expect(real.results.map((r) => r.outcome)).toEqual(ids.map((id) => (wasFinal.has(id) ? 'skipped' : 'done')));
    expect(real.counts).toEqual({ done: 20, eligible: 0, skipped: 10, failed: 0 });
    expect((await s.request<RunList>('GET', '/api/runs?status=running')).body.total).toBe(0);
  });

  it('by filter: the runs it matches, newest first, as the list has them; the others untouched', async () => {
    const a = await awaiting({ name: 'batch a' });
    clock.advance(1000);
    const b = await awaiting({ name: 'Batch b' });
    clock.advance(1000);
    const c = await succeeded({ name: 'batch c' });
    clock.advance(1000);
    const other = await awaiting({ name: 'other' });
    clock.advance(1000);
    const late = await awaiting({ name: 'batch late' });

    const filter = { name: 'BATCH', createdBefore: iso(clock.now()) };
    const dry = await ok('cancel', { filter, dryRun: true });
    expect(dry.matched).toBe(3);
    expect(dry.results).toEqual([
      { id: c.id, outcome: 'skipped', code: 'TETHER_RUN_FINAL', reason: 'already final (succeeded)' },
      { id: b.id, outcome: 'eligible' },
      { id: a.id, outcome: 'eligible' },
    ]);
    const listed = await s.request<RunList>('GET', `/api/runs?name=BATCH&createdBefore=${encodeURIComponent(filter.createdBefore)}`);
    expect(dry.results.map((r) => r.id)).toEqual(listed.body.runs.map((r) => r.id));

    const real = await ok('cancel', { filter: { ...filter, status: 'running' } });
    expect(real.results).toEqual([
      { id: b.id, outcome: 'done' },
      { id: a.id, outcome: 'done' },
    ]);
    expect((await s.run(other.id)).status).toBe('running');
    expect((await s.run(late.id)).status).toBe('running');
    // A filter that matches nothing: nothing to do, still an answer.
    expect(await ok('cancel', { filter: { status: 'failed' } })).toEqual({
      action: 'cancel',
      dryRun: false,
      matched: 0,
      counts: { done: 0, eligible: 0, skipped: 0, failed: 0 },
      results: [],
    });
  });

  it('a filter matching more than 1000 runs is 422 TETHER_BULK_TOO_MANY, dry run or not, and nothing is done', async () => {
    // 1000 runs at T0, one a second later.
    const T0 = clock.now();
    const create = (name: string) => s.request('POST', '/api/runs', { json: { name, target: { url: ext.url }, timeoutSeconds: 600, retryLimit: 0 } });
    for (let i = 0; i < 1000; i += 50) {
      const made = await Promise.all(Array.from({ length: 50 }, (_, j) => create(`many ${i + j}`)));
      expect(made.every((m) => m.status === 201)).toBe(true);
    }
    clock.advance(1000);
    expect((await create('many 1000')).status).toBe(201);
    await s.idle();

    for (const dryRun of [true, false]) {
      const res = await bulk('cancel', { filter: { name: 'many' }, dryRun });
      expect(res.status).toBe(422);
      expect(res.body.error).toEqual({
        code: 'TETHER_BULK_TOO_MANY',
        message:
          'The filter matches 1001 runs; a bulk action takes at most 1000. Nothing was done: narrow the filter (status, name, created range) or pass ids.',
      });
    }
    expect((await bulk('retry-now', { filter: {} })).status).toBe(422);
    expect((await s.request<RunList>('GET', '/api/runs?status=running&limit=1')).body.total, 'nothing was cancelled').toBe(1001);

    // Narrowed to 1000: every one of them, across the list's pages.
    const dry = await ok('cancel', { filter: { createdBefore: iso(T0 + 1000) }, dryRun: true });
    expect(dry.matched).toBe(1000);
    expect(dry.counts).toEqual({ done: 0, eligible: 1000, skipped: 0, failed: 0 });
    expect(new Set(dry.results.map((r) => r.id)).size).toBe(1000);
  }, 120_000);
});

describe('POST /api/runs/bulk/retry-now', () => {
  it('done for a run in backoff; skipped TETHER_NOT_IN_BACKOFF for one waiting or final; the dry run agrees', async () => {
    const backoff = await awaiting({ backoff: { initialSeconds: 30 } });
    await s.advance(60_000);
    expect((await s.run(backoff.id)).state).toBe('retrying');
    const waiting = await awaiting();
    const final = await succeeded();
    const ids = [waiting.id, backoff.id, final.id, UNKNOWN];

    const dry = await ok('retry-now', { ids, dryRun: true });
    expect(dry.results).toEqual([
      { id: waiting.id, outcome: 'skipped', code: 'TETHER_NOT_IN_BACKOFF', reason: 'not waiting in backoff (state awaitingCallback)' },
      { id: backoff.id, outcome: 'eligible' },
      { id: final.id, outcome: 'skipped', code: 'TETHER_NOT_IN_BACKOFF', reason: 'not waiting in backoff (state succeeded)' },
      { id: UNKNOWN, outcome: 'failed', code: 'TETHER_RUN_NOT_FOUND', reason: 'no such run' },
    ]);
    expect((await s.run(backoff.id)).attempts).toHaveLength(1);

    const triggers = ext.received.length;
    const real = await ok('retry-now', { ids });
    expect(predicted(real)).toEqual(predicted(dry));
    expect(real.counts).toEqual({ done: 1, eligible: 0, skipped: 2, failed: 1 });
    const now = await s.run(backoff.id);
    expect(now.state).toBe('triggering');
    expect(now.attempts).toHaveLength(2);
    expect((await ext.waitFor(triggers + 1)).body.attempt).toBe(2);
    expect((await s.events(backoff.id)).filter((e) => e.type === 'run.retryNow').map((e) => [e.source, e.verdict])).toEqual([['api', 'applied']]);
  });
});

describe('POST /api/runs/bulk/rerun', () => {
  it('each run re-run with its config and rerunOf; newRunId names the new run; a dry run creates none', async () => {
    const finished = await succeeded({ name: 'export', payload: { day: 1 } });
    const running = await awaiting({ name: 'import', payload: { day: 2 } });
    const ids = [finished.id, UNKNOWN, running.id];

    const dry = await ok('rerun', { ids, dryRun: true });
    expect(dry.results).toEqual([
      { id: finished.id, outcome: 'eligible' },
      { id: UNKNOWN, outcome: 'failed', code: 'TETHER_RUN_NOT_FOUND', reason: 'no such run' },
      { id: running.id, outcome: 'eligible' },
    ]);
    expect((await s.request<RunList>('GET', '/api/runs')).body.total, 'a dry run creates nothing').toBe(2);

    const real = await ok('rerun', { ids });
    expect(predicted(real)).toEqual(predicted(dry));
    expect(real.counts).toEqual({ done: 2, eligible: 0, skipped: 0, failed: 1 });
    const made = real.results.filter((r): r is BulkRunResult & { newRunId: string } => r.newRunId !== undefined);
    expect(made.map((r) => r.id)).toEqual([finished.id, running.id]);
    for (const { id, newRunId } of made) {
      const source = await s.run(id);
      const again = await s.run(newRunId);
      expect(again.id).not.toBe(id);
      expect(again).toMatchObject({ rerunOf: id, name: source.name, status: 'running' });
      expect(again.config).toEqual(source.config);
    }
    expect((await s.request<RunList>('GET', '/api/runs')).body.total).toBe(4);
  });

  it('a damaged run is failed TETHER_RUN_DAMAGED for that run only, dry run or not', async () => {
    const tmp = await tempDir('tether-bulk-damaged-');
    try {
      const first = await serve({ clock, dataDir: tmp.dir, build: { logger: false } });
      const create = async (name: string) =>
        (await first.send('POST', '/api/runs', { json: { name, target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 } })).json as Run;
      const damaged = await create('damaged');
      const healthy = await create('healthy');
      await first.idle();
      for (const r of [damaged, healthy]) expect((await first.send('POST', `/api/runs/${r.id}/cancel`, { json: {} })).status).toBe(200);
      await first.close();
      await writeFile(join(tmp.dir, 'runs', `${damaged.id}.json`), '{"v":1,"id":"run_trunc');
      const again = await serve({ clock, dataDir: tmp.dir, build: { logger: false } });
      try {
        for (const dryRun of [true, false]) {
          const a = await again.send('POST', '/api/runs/bulk/rerun', { json: { ids: [damaged.id, healthy.id], dryRun } });
          expect(a.status, a.text).toBe(200);
          const [bad, good] = (a.json as BulkResult).results;
          expect(bad).toMatchObject({ id: damaged.id, outcome: 'failed', code: 'TETHER_RUN_DAMAGED' });
          expect(bad!.reason).toContain(`${damaged.id}.json`);
          expect(good).toMatchObject({ id: healthy.id, outcome: dryRun ? 'eligible' : 'done' });
        }
      } finally {
        await again.close();
      }
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('bad bodies', () => {
  const bad = async (action: string, body: unknown) => {
    const res = await bulk(action, body);
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(res.body.error.code).toBe('TETHER_VALIDATION');
    return res.body.error.fields ?? [];
  };
  const paths = (fields: Array<{ path: string }>) => fields.map((f) => f.path).sort();

  it('exactly one of ids and filter: neither, or both, names both', async () => {
    const run = await awaiting();
    expect(await bad('cancel', {})).toEqual([
      { path: 'ids', message: 'or filter is required: one of ids and filter' },
      { path: 'filter', message: 'or ids is required: one of ids and filter' },
    ]);
    expect(await bad('rerun', { dryRun: true })).toHaveLength(2);
    expect(await bad('retry-now', { ids: [run.id], filter: { status: 'running' } })).toEqual([
      { path: 'ids', message: 'must not be given with filter: one of ids and filter' },
      { path: 'filter', message: 'must not be given with ids: one of ids and filter' },
    ]);
    expect((await s.run(run.id)).status).toBe('running');
  });

  it('every bad field at once, the rules a schema cannot say included', async () => {
    const fields = await bad('cancel', {
      ids: [],
      filter: { status: 'done', createdAfter: 'yesterday', bogus: 1 },
      dryRun: 'yes',
      reason: 'x'.repeat(1001),
      extra: true,
    });
    expect(paths(fields)).toEqual(['dryRun', 'extra', 'filter', 'filter.bogus', 'filter.createdAfter', 'filter.status', 'ids', 'reason']);
    expect(fields.find((f) => f.path === 'ids')!.message).toBe('must not have fewer than 1 items');
    expect(fields.find((f) => f.path === 'reason')!.message).toBe('must not have more than 1000 characters');

    const range = await bad('rerun', {
      filter: { createdAfter: '2026-01-02T00:00:00Z', createdBefore: '2026-01-01T00:00:00Z', name: 'x'.repeat(201) },
    });
    expect(range).toEqual([
      { path: 'filter.name', message: 'must not have more than 200 characters' },
      { path: 'filter.createdAfter', message: 'must be earlier than filter.createdBefore' },
      { path: 'filter.createdBefore', message: 'must be later than filter.createdAfter' },
    ]);
    expect(await bad('retry-now', { ids: ['run_a'], reason: 'why' })).toEqual([{ path: 'reason', message: 'is not a known field' }]);
    expect(await bad('cancel', { ids: ['run_a', 'run_a'] })).toEqual([{ path: 'ids', message: 'must not have duplicate items' }]);
    expect(paths(await bad('cancel', { ids: ['run_a', 'not-a-run', 'run_b', 'run c'] }))).toEqual(['ids.1', 'ids.3']);
    expect(await bad('cancel', { ids: Array.from({ length: 1001 }, (_, i) => `run_${i}`) })).toEqual([
      { path: 'ids', message: 'must not have more than 1000 items' },
    ]);
    expect(await bad('cancel', [])).toEqual([{ path: '(body)', message: 'must be object' }]);
    expect((await s.request<ErrorBody>('POST', '/api/runs/bulk/cancel')).status).toBe(400);
  });
});

describe('the token', () => {
  it('the bulk routes need it like the rest of the runs API', async () => {
    const locked = await startServer({ clock, env: { TETHER_API_TOKEN: 'tok_0123456789abcdef' } });
    try {
      for (const action of ['cancel', 'retry-now', 'rerun']) {
        const res = await locked.request<ErrorBody>('POST', `/api/runs/bulk/${action}`, { json: { filter: {} } });
        expect(res.status, action).toBe(401);
        const authed = await locked.request<BulkResult>('POST', `/api/runs/bulk/${action}`, {
          json: { filter: {}, dryRun: true },
          headers: { authorization: 'Bearer tok_0123456789abcdef' },
        });
        expect(authed.status, action).toBe(200);
        expect(authed.body.action).toBe(action);
      }
    } finally {
      await locked.close();
    }
  });
});
