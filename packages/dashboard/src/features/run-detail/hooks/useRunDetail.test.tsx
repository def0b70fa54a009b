/**
 * The run page's first fetch and its stream subscription race: a commit that lands after the fetch was answered but
 * before the watch is in effect (a trigger answered within milliseconds of the launch) reaches neither. The server's
 * `watch.ok` says the watch is in effect, so the run is read again then — the first time too, and after every
 * reconnect.
 */
import { act, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Run } from '@tether/machine/protocol';
import { stubApi } from '../../../test/fakeApi.ts';
import { fixtures } from '../../../test/fixtures.ts';
import { FakeWebSocket } from '../../../test/fakeWebSocket.ts';
import { renderHookWithProviders } from '../../../test/providers.tsx';
import { useRunDetail } from './useRunDetail.ts';

describe('useRunDetail', () => {
  beforeEach(() => {
    FakeWebSocket.reset();
    vi.stubGlobal('WebSocket', FakeWebSocket);
  });
  afterEach(() => vi.unstubAllGlobals());

  it('follows its run on the shared stream and reads it again once the watch is in effect', async () => {
    const now = fixtures.seed.run;
    const before: Run = { ...now, state: 'triggering', updatedAt: '2000-01-01T00:00:00.000Z' };
    let served: Run = before;
    const requests = stubApi(({ url }) => ({ body: url.pathname.endsWith('/events') ? { events: [] } : served }));
    const runReads = () => requests.filter((r) => !r.url.pathname.endsWith('/events')).length;

    const { result } = renderHookWithProviders(() => useRunDetail(now.id));
    await waitFor(() => expect(result.current.run?.state).toBe('triggering'));
    expect(result.current.loading).toBe(false);

    served = now; // committed after the first fetch was answered, before the watch: no run.updated for it
    const ws = FakeWebSocket.latest();
    act(() => ws.serverOpen());
    await waitFor(() => expect(ws.watches()).toEqual([{ type: 'watch', runs: [], run: now.id, created: false }]));
    expect(runReads()).toBe(1);
    act(() => ws.serverSend({ type: 'watch.ok', runs: 0, run: now.id, created: false }));
    await waitFor(() => expect(result.current.run?.state).toBe(now.state));
    expect(runReads()).toBe(2);
  });

  it('applies run.updated and run.event from the stream; an older run from an action does not undo a newer one', async () => {
    const f = fixtures.waiting;
    stubApi(({ url }) => ({ body: url.pathname.endsWith('/events') ? { events: f.events.slice(0, -1) } : f.run }));
    const { result } = renderHookWithProviders(() => useRunDetail(f.run.id));
    await waitFor(() => expect(result.current.events).toHaveLength(f.events.length - 1));

    const ws = FakeWebSocket.latest();
    const updatedAt = new Date(Date.parse(f.run.updatedAt) + 1000).toISOString();
    act(() => {
      ws.serverOpen();
      ws.serverSend({ type: 'run.event', runId: f.run.id, event: f.events.at(-1)! });
      ws.serverSend({
        type: 'run.updated',
        run: { ...f.run, state: 'succeeded', status: 'succeeded', updatedAt },
        summary: { ...f.summary, updatedAt },
      });
    });
    await waitFor(() => expect(result.current.run?.state).toBe('succeeded'));
    expect(result.current.events).toHaveLength(f.events.length);

    act(() => result.current.accept(f.run));
    expect(result.current.run?.state).toBe('succeeded');
    expect(result.current.connection.status).toBe('live');
  });

  it('says why when the run does not exist', async () => {
    stubApi(() => ({ status: 404, body: { error: { code: 'TETHER_RUN_NOT_FOUND', message: 'no run run_nope' } } }));
    const { result } = renderHookWithProviders(() => useRunDetail('run_nope'));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(result.current.run).toBeNull();
    expect(result.current.error?.status).toBe(404);
  });
});
