/**
 * `derived=` on the list and in a bulk filter: the dashboard's "needs attention" states (retrying, in backoff,
 * overdue, exhausted) decided on the server by the shared predicates, so a page of 50 shows every matching run of
 * 100k, not the ones that happened to be loaded.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BulkResult, ErrorBody, Run, RunList } from '@tether/machine/protocol';
import { startServer, until, type TestServer } from './helpers/http-app.ts';

let s: TestServer;
let exhausted: Run;
let waiting: Run;
let backoff: Run;
beforeAll(async () => {
  s = await startServer();
  const sim = (outcome: string, over: Record<string, unknown> = {}) =>
    s.createRun({ target: { url: `${s.base}/simulator/jobs` }, payload: { simulate: { outcome } }, timeoutSeconds: 60, retryLimit: 0, ...over });
  exhausted = await sim('triggerError');
  waiting = await sim('never');
  backoff = await sim('triggerError', { retryLimit: 2, backoff: { initialSeconds: 600, maxSeconds: 600 } });
  await until('the runs settle', async () => {
    const [a, b] = await Promise.all([s.run(exhausted.id), s.run(backoff.id)]);
    return a.status === 'failed' && b.state === 'retrying' ? true : undefined;
  });
});
afterAll(async () => {
  await s.close();
});

const ids = async (q: string) => {
  const r = await s.request<RunList>('GET', `/api/runs?${q}`);
  expect(r.status, r.text).toBe(200);
  return { ids: r.body.runs.map((x) => x.id), total: r.body.total };
};

it('each derived state lists exactly its runs, with their total', async () => {
  expect(await ids('derived=exhausted')).toEqual({ ids: [exhausted.id], total: 1 });
  expect(await ids('derived=inBackoff')).toEqual({ ids: [backoff.id], total: 1 });
  expect(await ids('derived=retrying')).toEqual({ ids: [], total: 0 });
  expect((await ids('derived=overdue')).ids).not.toContain(waiting.id);
  // Combined with the other filters.
  expect(await ids('derived=inBackoff&status=failed')).toEqual({ ids: [], total: 0 });
});

it('an unknown derived state is a 400 naming query.derived', async () => {
  const r = await s.request<ErrorBody>('GET', '/api/runs?derived=stuck');
  expect(r.status).toBe(400);
  expect(r.body.error.fields?.map((f) => f.path)).toContain('query.derived');
});

it('a bulk filter takes it too', async () => {
  const r = await s.request<BulkResult>('POST', '/api/runs/bulk/cancel', { json: { filter: { derived: 'inBackoff' }, dryRun: true } });
  expect(r.status, r.text).toBe(200);
  expect(r.body.results.map((x) => [x.id, x.outcome])).toEqual([[backoff.id, 'eligible']]);
});
