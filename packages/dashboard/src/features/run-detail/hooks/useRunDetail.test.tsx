/**
 * The run page's first fetch and its stream subscription race: a commit that lands after the fetch was answered but
 * before the socket is open (a trigger answered within milliseconds of the launch) reaches neither. The stream's
 * connect snapshot says the subscription is live, so the run is read again then — the first time too.
 */
import { act, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Run } from '@tether/machine/protocol';
import { fixtures } from '../../../test/fixtures.ts';
import { FakeWebSocket } from '../../../test/fakeWebSocket.ts';
import { useRunDetail } from './useRunDetail.ts';

const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });

describe('useRunDetail', () => {
  beforeEach(() => {
    FakeWebSocket.reset();
    vi.stubGlobal('WebSocket', FakeWebSocket);
  });
  afterEach(() => vi.unstubAllGlobals());

  it('reads the run again when the stream first connects: a commit between the fetch and the subscription is shown', async () => {
    const now = fixtures.seed.run;
    const before: Run = { ...now, state: 'triggering', updatedAt: '2000-01-01T00:00:00.000Z' };
    let served: Run = before;
    const fetchMock = vi.fn(async (url: string) => (String(url).endsWith('/events') ? json({ events: [] }) : json(served)));
    vi.stubGlobal('fetch', fetchMock);

    const { result } = renderHook(() => useRunDetail(now.id));
    await waitFor(() => expect(result.current.run?.state).toBe('triggering'));
    served = now; // committed after the first fetch was answered, before the socket opened: no run.updated for it
    act(() => {
      const ws = FakeWebSocket.latest();
      ws.serverOpen();
      ws.serverSend({ type: 'snapshot', bootId: 'boot-1', startedAt: now.createdAt, runs: [] });
    });
    await waitFor(() => expect(result.current.run?.state).toBe(now.state));
    expect(fetchMock.mock.calls.filter(([u]) => !String(u).endsWith('/events'))).toHaveLength(2);
  });
});
