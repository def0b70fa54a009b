import { QueryClient } from '@tanstack/react-query';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Run, RunEventEntry, RunList } from '@tether/machine/protocol';
import { page, summary } from '../../test/fakeApi.ts';
import { fixtures } from '../../test/fixtures.ts';
import { runKeys } from '../queryKeys.ts';
import { LIST_REREAD_MIN_MS, StreamCache, settleEvents, settleRun } from './streamCache.ts';

const later = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
const firstPage = { limit: 50, sort: '-createdAt' as const };
const failedOnly = { limit: 50, status: 'failed' as const };

describe('StreamCache: the stream written into the query cache', () => {
  let client: QueryClient;
  let cache: StreamCache;
  beforeEach(() => {
    client = new QueryClient();
    cache = new StreamCache(client);
  });
  afterEach(() => {
    cache.dispose();
    vi.useRealTimers();
  });

  it('run.summary replaces the line in place on every cached page holding it, and touches no other page', () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 0 });
    const [a, b, c] = [summary(1), summary(2), summary(3)];
    client.setQueryData(runKeys.list(firstPage), page([c, b, a], { total: 3 }));
    client.setQueryData(runKeys.list(failedOnly), page([b]));
    client.setQueryData(runKeys.list({ limit: 50, name: 'other' }), page([c]));
    const untouchedAt = client.getQueryState(runKeys.list({ limit: 50, name: 'other' }))!.dataUpdatedAt;

    vi.setSystemTime(60_000);
    const next = { ...b, status: 'failed' as const, updatedAt: later(b.updatedAt, 1000) };
    cache.apply({ type: 'run.summary', summary: next });

    expect(client.getQueryData<RunList>(runKeys.list(firstPage))).toEqual(page([c, next, a], { total: 3 }));
    expect(client.getQueryData<RunList>(runKeys.list(failedOnly))!.runs).toEqual([next]);
    expect(client.getQueryState(runKeys.list({ limit: 50, name: 'other' }))!.dataUpdatedAt).toBe(untouchedAt);
  });

  it('an older summary never overwrites a newer one (messages and HTTP answers can cross)', () => {
    const fresh = summary(1, { status: 'succeeded', updatedAt: '2026-03-02T10:00:00.000Z' });
    client.setQueryData(runKeys.list(firstPage), page([fresh]));
    cache.apply({ type: 'run.summary', summary: { ...fresh, status: 'running', updatedAt: '2026-03-02T09:59:59.000Z' } });
    expect(client.getQueryData<RunList>(runKeys.list(firstPage))!.runs[0]!.status).toBe('succeeded');
  });

  it('run.updated replaces the run (only if newer) and its list line; run.event merges into the log by seq', () => {
    const run = fixtures.waiting.run;
    client.setQueryData(runKeys.detail(run.id), run);
    client.setQueryData(runKeys.list(firstPage), page([fixtures.waiting.summary]));
    client.setQueryData(runKeys.events(run.id), fixtures.waiting.events);

    const updatedAt = later(run.updatedAt, 5000);
    const next: Run = { ...run, state: 'succeeded', status: 'succeeded', updatedAt };
    cache.apply({ type: 'run.updated', run: next, summary: { ...fixtures.waiting.summary, status: 'succeeded', updatedAt } });
    expect(client.getQueryData<Run>(runKeys.detail(run.id))).toEqual(next);
    expect(client.getQueryData<RunList>(runKeys.list(firstPage))!.runs[0]!.status).toBe('succeeded');

    cache.apply({ type: 'run.updated', run: { ...run, updatedAt: run.updatedAt }, summary: fixtures.waiting.summary });
    expect(client.getQueryData<Run>(runKeys.detail(run.id))!.state).toBe('succeeded');

    const last = fixtures.waiting.events.at(-1)!;
    const added: RunEventEntry = { ...last, seq: last.seq + 1 };
    cache.apply({ type: 'run.event', runId: run.id, event: added });
    cache.apply({ type: 'run.event', runId: run.id, event: added });
    const log = client.getQueryData<RunEventEntry[]>(runKeys.events(run.id))!;
    expect(log).toHaveLength(fixtures.waiting.events.length + 1);
    expect(log.map((e) => e.seq)).toEqual([...log.map((e) => e.seq)].sort((x, y) => x - y));
  });

  it('run.deleted takes the line off the pages holding it', () => {
    client.setQueryData(runKeys.list(firstPage), page([summary(2), summary(1)], { total: 10 }));
    cache.apply({ type: 'run.deleted', runId: summary(2).id });
    expect(client.getQueryData<RunList>(runKeys.list(firstPage))).toEqual(page([summary(1)], { total: 9 }));
  });

  it('watch.ok re-reads what the watch names; the lists at most once a second, the last re-read only delayed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const invalidate = vi.spyOn(client, 'invalidateQueries');
    const lists = () => invalidate.mock.calls.filter(([f]) => JSON.stringify(f?.queryKey) === JSON.stringify(runKeys.lists())).length;

    cache.apply({ type: 'watch.ok', runs: 0, run: 'run_x', created: false });
    expect(invalidate.mock.calls.map(([f]) => f?.queryKey)).toEqual([runKeys.detail('run_x'), runKeys.events('run_x')]);

    cache.apply({ type: 'watch.ok', runs: 50, run: null, created: true });
    expect(lists()).toBe(1);
    cache.apply({ type: 'watch.ok', runs: 51, run: null, created: true });
    cache.apply({ type: 'watch.ok', runs: 52, run: null, created: true });
    expect(lists()).toBe(1);
    vi.advanceTimersByTime(LIST_REREAD_MIN_MS);
    expect(lists()).toBe(2);
  });

  it('what the stream says before a page has its first read is kept and merged into that read, never lost', () => {
    const run = fixtures.waiting.run;
    const log = fixtures.waiting.events;
    // The first read was answered from before the last commit; that commit's messages arrived while it was in flight.
    const read = log.slice(0, -1);
    const last = log[log.length - 1]!;
    const newer = { ...run, updatedAt: later(run.updatedAt, 1000) };
    cache.apply({ type: 'run.event', runId: run.id, event: last });
    cache.apply({ type: 'run.updated', run: newer, summary: fixtures.waiting.summary });
    expect(client.getQueryData(runKeys.events(run.id)), 'nothing cached before the read').toBeUndefined();

    expect(settleEvents(client, run.id, read)).toEqual(log);
    expect(settleRun(client, run)).toEqual(newer);
    // Taken once: a later read is its own truth again.
    expect(settleEvents(client, run.id, read)).toEqual(read);
    expect(settleRun(client, run)).toEqual(run);
  });
});
