/**
 * One socket for the whole app: every mounted page's interest goes to the server as one merged watch, sent again on
 * every reconnect (a new socket knows nothing of the last one's watch) and whenever the interest changes.
 */
import { act } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeWebSocket } from '../../test/fakeWebSocket.ts';
import { renderHookWithProviders } from '../../test/providers.tsx';
import { useStreamConnection, useWatch } from './useStream.ts';
import type { WatchInterest } from './watchRegistry.ts';

/** Two pages' interests at once, as the hook of each would declare them. */
function useTwo({ a, b }: { a: WatchInterest; b: WatchInterest }) {
  useWatch(a);
  useWatch(b);
  return useStreamConnection();
}

/** Lets the registry's coalescing microtask run. */
const settle = () => act(async () => {});

describe('StreamProvider', () => {
  beforeEach(() => {
    FakeWebSocket.reset();
    vi.stubGlobal('WebSocket', FakeWebSocket);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('opens one socket in watch mode and sends one watch merging every interest', async () => {
    const { result } = renderHookWithProviders(() =>
      useTwo({ a: { runs: ['run_b', 'run_a'], created: true }, b: { run: 'run_x', runs: ['run_a'] } }),
    );
    await settle();
    expect(FakeWebSocket.instances).toHaveLength(1);
    const ws = FakeWebSocket.latest();
    expect(new URL(ws.url).searchParams.get('watch')).toBe('1');
    act(() => ws.serverOpen());
    expect(result.current.status).toBe('live');
    expect(ws.watches()).toEqual([{ type: 'watch', runs: ['run_a', 'run_b'], run: 'run_x', created: true }]);
  });

  it('sends the watch again on every reconnect, and once per change of interest', async () => {
    const { rerender } = renderHookWithProviders(useTwo, undefined, { initialProps: { a: { runs: ['run_a'] }, b: { run: null } } });
    await settle();
    const first = FakeWebSocket.latest();
    act(() => first.serverOpen());
    expect(first.watches()).toHaveLength(1);

    // Both interests change in one render: one message for both.
    rerender({ a: { runs: ['run_a', 'run_c'] }, b: { run: 'run_c' } });
    await settle();
    expect(first.watches()).toEqual([
      { type: 'watch', runs: ['run_a'], run: null, created: false },
      { type: 'watch', runs: ['run_a', 'run_c'], run: 'run_c', created: false },
    ]);
    // The same interest again (a new array with the same ids) sends nothing.
    rerender({ a: { runs: ['run_c', 'run_a'] }, b: { run: 'run_c' } });
    await settle();
    expect(first.watches()).toHaveLength(2);

    act(() => first.serverClose());
    act(() => vi.advanceTimersByTime(500));
    const second = FakeWebSocket.latest();
    expect(second).not.toBe(first);
    expect(second.watches()).toEqual([]);
    act(() => second.serverOpen());
    expect(second.watches()).toEqual([{ type: 'watch', runs: ['run_a', 'run_c'], run: 'run_c', created: false }]);
  });

  it('a change of interest while disconnected is what the next socket declares', async () => {
    const { rerender } = renderHookWithProviders(useTwo, undefined, { initialProps: { a: { runs: ['run_a'] }, b: {} } });
    await settle();
    const first = FakeWebSocket.latest();
    act(() => first.serverOpen());
    act(() => first.serverClose());
    rerender({ a: { runs: ['run_b'] }, b: {} });
    await settle();
    expect(first.watches()).toHaveLength(1);
    act(() => vi.advanceTimersByTime(500));
    act(() => FakeWebSocket.latest().serverOpen());
    expect(FakeWebSocket.latest().watches()).toEqual([{ type: 'watch', runs: ['run_b'], run: null, created: false }]);
  });
});
