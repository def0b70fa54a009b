/**
 * `GET /api/runs` through a real listening server: every sort in both directions (duration with the runs not final
 * last either way), paging through every page of a sort (also with a run created between pages), the created range's
 * boundaries (inclusive after, exclusive before), `total`, and bad parameters answered by one 400 naming all of them.
 * Runs are real: created over HTTP against a fake external system on loopback, settled by callbacks and cancels at
 * instants a ManualClock sets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_LIST_SORTS, type ErrorBody, type RunList, type RunListSort, type RunSummary } from '@tether/machine/protocol';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { startServer, type TestServer } from './helpers/http-app.ts';

const iso = (ms: number) => new Date(ms).toISOString();

let ext: FakeExternalSystem;
let clock: ManualClock;
let s: TestServer;
let T0: number;
/** r[i] was created at T0 + i s. */
const r: string[] = [];

const list = async (query: string) => {
  const res = await s.request<RunList>('GET', `/api/runs?${query}`);
  expect(res.status, `?${query}: ${res.text}`).toBe(200);
  return res.body;
};
/** Every page of `query`, following nextCursor; each page at most `limit`, full but the last, `total` the same on each. */
const allPages = async (query: string, limit: number, between?: (page: number) => Promise<void>) => {
  const ids: string[] = [];
  const totals = new Set<number>();
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const body: RunList = await list(`${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (body.nextCursor !== null) expect(body.runs.length).toBe(limit);
    else expect(body.runs.length).toBeLessThanOrEqual(limit);
    ids.push(...body.runs.map((x) => x.id));
    totals.add(body.total);
    cursor = body.nextCursor;
    if (cursor === null) return { ids, totals: [...totals] };
    await between?.(page);
  }
  throw new Error('nextCursor never became null');
};

beforeAll(async () => {
  ext = await new FakeExternalSystem().start();
  clock = new ManualClock();
  T0 = clock.now();
  s = await startServer({ clock });
  // Eight runs, a second apart, each triggered and waiting for its callback.
  for (let i = 0; i < 8; i++) {
    r.push((await s.createRun({ name: i % 2 ? `odd export ${i}` : `even import ${i}`, target: { url: ext.url } })).id);
    await s.idle();
    clock.advance(1000);
  }
  // Settled out of creation order, at known instants, so every order differs from the others:
  //   r5 succeeded after 5 s, r1 cancelled after 10 s, r3 succeeded after 9 s, r6 failed after 7 s,
  //   r0 cancelled after 14 s, r7 succeeded after 9 s (the same as r3: the tie goes by id); r2 and r4 stay running.
  const at = async (t: number) => {
    await s.advance(T0 + t * 1000 - clock.now());
  };
  const succeed = async (id: string, success = true) => {
    const run = await s.run(id);
    const res = await s.post(run.attempts[0]!.callbackUrl!, { json: { success, ...(success ? {} : { retryable: false }) } });
    expect(res.status).toBe(200);
  };
  const cancel = async (id: string) => expect((await s.request('POST', `/api/runs/${id}/cancel`, { json: {} })).status).toBe(200);
  await at(10);
  await succeed(r[5]!);
  await at(11);
  await cancel(r[1]!);
  await at(12);
  await succeed(r[3]!);
  await at(13);
  await succeed(r[6]!, false);
  await at(14);
  await cancel(r[0]!);
  await at(16);
  await succeed(r[7]!);
  await s.idle();
}, 60_000);
afterAll(async () => {
  await s?.close();
  await ext?.close();
});

describe('GET /api/runs?sort=', () => {
  it('every order, both directions: duration with the runs not final last either way; ties by id in the same direction', async () => {
    const ids = async (sort: string) => (await list(`sort=${sort}`)).runs.map((x) => x.id);
    const R = (...is: number[]) => is.map((i) => r[i]);
    expect(await ids('-createdAt')).toEqual(R(7, 6, 5, 4, 3, 2, 1, 0));
    expect(
      (await list('')).runs.map((x) => x.id),
      'the default',
    ).toEqual(R(7, 6, 5, 4, 3, 2, 1, 0));
    expect(await ids('createdAt')).toEqual(R(0, 1, 2, 3, 4, 5, 6, 7));
    // Durations: r5 5 s, r6 7 s, r3 9 s, r7 9 s, r1 10 s, r0 14 s; r2 and r4 have none.
    expect(await ids('duration')).toEqual(R(5, 6, 3, 7, 1, 0, 2, 4));
    expect(await ids('-duration')).toEqual(R(0, 1, 7, 3, 6, 5, 4, 2));
    // RUN_STATUSES order: running, succeeded, failed, cancelled.
    expect(await ids('status')).toEqual(R(2, 4, 3, 5, 7, 6, 0, 1));
    expect(await ids('-status')).toEqual(R(1, 0, 6, 7, 5, 3, 4, 2));
    // The running ones were last updated when triggered (T0 + 2 s, + 4 s); the others when they ended.
    expect(await ids('updatedAt')).toEqual(R(2, 4, 5, 1, 3, 6, 0, 7));
    expect(await ids('-updatedAt')).toEqual(R(7, 0, 6, 3, 1, 5, 4, 2));
    const byUpdate = (await list('sort=updatedAt')).runs.map((x: RunSummary) => x.updatedAt);
    expect(byUpdate).toEqual([...byUpdate].sort());
  });

  it('paging through every page of every sort returns every run exactly once, in the order of the whole list', async () => {
    for (const sort of RUN_LIST_SORTS) {
      const whole = (await list(`sort=${sort}`)).runs.map((x) => x.id);
      for (const limit of [1, 3, 8]) {
        const { ids, totals } = await allPages(`sort=${sort}`, limit);
        expect(ids, `sort=${sort}&limit=${limit}`).toEqual(whole);
        expect(totals).toEqual([8]);
      }
      const succeeded = await allPages(`sort=${sort}&status=succeeded`, 2);
      expect(succeeded.ids, `sort=${sort}&status=succeeded`).toEqual(whole.filter((id) => [r[3], r[5], r[7]].includes(id)));
      expect(succeeded.totals).toEqual([3]);
    }
  });

  it('a run created between two pages: the runs that were there are each listed once, in order', async () => {
    const before = new Set((await list('limit=500')).runs.map((x) => x.id));
    const made: string[] = [];
    try {
      for (const sort of RUN_LIST_SORTS) {
        const whole = (await list(`sort=${sort}&limit=500`)).runs.map((x) => x.id).filter((id) => before.has(id));
        const { ids } = await allPages(`sort=${sort}`, 3, async (page) => {
          if (page !== 0) return;
          clock.advance(1000);
          made.push((await s.createRun({ name: `between ${sort}`, target: { url: ext.url } })).id);
          await s.idle();
        });
        expect(new Set(ids).size, `sort=${sort}: no run twice`).toBe(ids.length);
        expect(
          ids.filter((id) => before.has(id)),
          `sort=${sort}`,
        ).toEqual(whole);
      }
    } finally {
      // The other tests count eight runs.
      for (const id of made) {
        expect((await s.request('POST', `/api/runs/${id}/cancel`, { json: {} })).status).toBe(200);
        expect((await s.request('DELETE', `/api/runs/${id}`)).status).toBe(204);
      }
    }
    expect((await list('')).total).toBe(8);
  });
});

describe('GET /api/runs?createdAfter=&createdBefore=', () => {
  it('createdAfter is inclusive, createdBefore exclusive, to the millisecond and in any offset; with every sort', async () => {
    const q = (after: number, before: number, extra = '') =>
      list(`createdAfter=${encodeURIComponent(iso(T0 + after))}&createdBefore=${encodeURIComponent(iso(T0 + before))}${extra}`);
    const page = await q(2000, 5000);
    expect(page.runs.map((x) => x.id)).toEqual([r[4], r[3], r[2]]);
    expect(page.total).toBe(3);
    expect((await q(2001, 5001)).runs.map((x) => x.id)).toEqual([r[5], r[4], r[3]]);
    expect((await q(1999, 4999)).runs.map((x) => x.id)).toEqual([r[4], r[3], r[2]]);
    expect((await q(2000, 2001)).runs.map((x) => x.id)).toEqual([r[2]]);
    expect((await q(2001, 2999)).total).toBe(0);
    expect((await q(2000, 5000, '&sort=duration')).runs.map((x) => x.id)).toEqual([r[3], r[2], r[4]]);
    expect((await q(2000, 5000, '&sort=createdAt&limit=2')).runs.map((x) => x.id)).toEqual([r[2], r[3]]);
    const paged = await allPages(`createdAfter=${iso(T0 + 2000)}&createdBefore=${iso(T0 + 6000)}&sort=-status`, 1);
    expect(paged.ids).toEqual([r[5], r[3], r[4], r[2]]);
    expect(paged.totals).toEqual([4]);
    // The same instant written with an offset: T0 + 2 s is 01:00:02 at +01:00.
    const offset = new Date(T0 + 2000).toISOString().replace('T00:', 'T01:').replace('Z', '+01:00');
    expect((await list(`createdAfter=${encodeURIComponent(offset)}&status=running`)).runs.map((x) => x.id)).toEqual([r[4], r[2]]);
    // Only one end.
    expect((await list(`createdAfter=${iso(T0 + 6000)}`)).runs.map((x) => x.id)).toEqual([r[7], r[6]]);
    expect((await list(`createdBefore=${iso(T0 + 2000)}&sort=createdAt`)).runs.map((x) => x.id)).toEqual([r[0], r[1]]);
  });
});

describe('GET /api/runs: total', () => {
  it('counts every run the filters match, whatever the page', async () => {
    expect((await list('limit=1')).total).toBe(8);
    expect((await list('status=running&limit=1')).total).toBe(2);
    expect((await list('status=cancelled&sort=duration')).total).toBe(2);
    expect((await list('name=EXPORT&limit=1')).total).toBe(4);
    expect((await list(`name=odd&status=succeeded&createdAfter=${iso(T0 + 4000)}`)).runs.map((x) => x.id)).toEqual([r[7], r[5]]);
    expect((await list('name=nothing-like-it')).total).toBe(0);
  });
});

describe('GET /api/runs: bad parameters', () => {
  const bad = async (query: string) => {
    const res = await s.request<ErrorBody>('GET', `/api/runs?${query}`);
    expect(res.status, query).toBe(400);
    expect(res.body.error.code).toBe('TETHER_VALIDATION');
    return res.body.error.fields ?? [];
  };
  const paths = (fields: Array<{ path: string }>) => fields.map((f) => f.path).sort();

  it('every bad parameter at once: unparseable times, an unknown sort, a limit out of range, an unknown status', async () => {
    const fields = await bad('createdAfter=yesterday&createdBefore=2026-02-30T00:00:00Z&sort=name&limit=0&status=done');
    expect(paths(fields)).toEqual(['query.createdAfter', 'query.createdBefore', 'query.limit', 'query.sort', 'query.status']);
    expect(fields.find((f) => f.path === 'query.createdAfter')!.message).toMatch(/date-time/);
    expect(fields.find((f) => f.path === 'query.limit')!.message).toBe('must be between 1 and 500');
    // A date without a time, or a time without an offset, is not a date-time.
    expect(paths(await bad('createdAfter=2026-01-01&createdBefore=2026-01-02T00:00:00'))).toEqual(['query.createdAfter', 'query.createdBefore']);
  });

  it('an empty range names both ends, together with the other parameters that are wrong', async () => {
    const same = await bad(`createdAfter=${iso(T0)}&createdBefore=${iso(T0)}`);
    expect(same).toEqual([
      { path: 'query.createdAfter', message: 'must be earlier than query.createdBefore' },
      { path: 'query.createdBefore', message: 'must be later than query.createdAfter' },
    ]);
    const fields = await bad(`createdAfter=${iso(T0 + 1000)}&createdBefore=${iso(T0)}&status=nope&limit=501&sort=duration&cursor=${r[3]}`);
    expect(paths(fields)).toEqual(['query.createdAfter', 'query.createdBefore', 'query.cursor', 'query.limit', 'query.status']);
  });

  it('a cursor made for another sort, or that is not a cursor of the sort asked, is 400 query.cursor', async () => {
    const byDuration = (await list('sort=duration&limit=2')).nextCursor!;
    const byId = (await list('limit=2')).nextCursor!;
    expect(byId).toBe(r[6]);
    const other: Array<[RunListSort | '', string, RegExp]> = [
      ['-updatedAt', byDuration, /^was made for sort=duration, not sort=-updatedAt/],
      ['', byDuration, /^was made for sort=duration, not sort=-createdAt/],
      ['-createdAt', byDuration, /^was made for sort=duration/],
      ['status', byId, /^is not a nextCursor of sort=status/],
      ['duration', 'not-a-cursor', /^is not a nextCursor of sort=duration/],
    ];
    for (const [sort, cursor, message] of other) {
      const fields = await bad(`${sort ? `sort=${sort}&` : ''}cursor=${encodeURIComponent(cursor)}`);
      expect(fields, `${sort} ${cursor}`).toEqual([{ path: 'query.cursor', message: expect.stringMatching(message) }]);
    }
    // The cursor each sort made continues it.
    expect((await list(`sort=duration&limit=2&cursor=${byDuration}`)).runs.map((x) => x.id)).toEqual([r[3], r[7]]);
  });
});
