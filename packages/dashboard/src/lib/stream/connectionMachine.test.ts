import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromCallback } from 'xstate';
import type { StreamWatch } from '@tether/machine/protocol';
import {
  connectionMachine,
  connectionStatus,
  reconnectDelayMs,
  SILENCE_LIMIT_MS,
  type ConnectionEvent,
  type SocketInput,
} from './connectionMachine.ts';

/** A socket actor the test drives: `sockets` holds one sender per socket the machine opened. */
function harness() {
  const sockets: Array<(e: ConnectionEvent) => void> = [];
  const closed: number[] = [];
  /** What the machine sent to the server, per socket. */
  const sent: StreamWatch[][] = [];
  const logic = connectionMachine.provide({
    actors: {
      socket: fromCallback<ConnectionEvent, SocketInput>(({ sendBack, receive }) => {
        const i = sockets.length;
        sockets.push(sendBack);
        sent.push([]);
        receive((e) => {
          if (e.type === 'socket.send') sent[i]!.push(e.message);
        });
        return () => closed.push(i);
      }),
    },
  });
  const actor = createActor(logic, { input: { url: 'ws://test/api/stream', onMessage: () => {} } }).start();
  const status = () => connectionStatus(actor.getSnapshot());
  return { actor, sockets, closed, sent, status };
}

describe('connectionMachine', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('backs off 0.5 s, 1 s, 2 s … up to 15 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(reconnectDelayMs)).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
  });

  it('connects, goes live, and after a drop reconnects with a growing backoff', () => {
    const h = harness();
    expect(h.status()).toBe('connecting');
    h.sockets[0]!({ type: 'socket.opened' });
    expect(h.status()).toBe('live');

    h.sockets[0]!({ type: 'socket.closed', code: 1006 });
    expect(h.status()).toBe('reconnecting');
    expect(h.actor.getSnapshot().context.nextRetryAt).toBe(500);
    vi.advanceTimersByTime(499);
    expect(h.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(h.sockets).toHaveLength(2);
    expect(h.status()).toBe('reconnecting');

    h.sockets[1]!({ type: 'socket.closed', code: 1006 });
    vi.advanceTimersByTime(999);
    expect(h.sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(h.sockets).toHaveLength(3);

    h.sockets[2]!({ type: 'socket.opened' });
    expect(h.status()).toBe('live');
    expect(h.actor.getSnapshot().context.failures).toBe(0);
  });

  it('reconnects at once when asked', () => {
    const h = harness();
    h.sockets[0]!({ type: 'socket.closed' });
    h.actor.send({ type: 'connection.retryNow' });
    expect(h.sockets).toHaveLength(2);
  });

  it('records a restart when a snapshot carries a new bootId', () => {
    const h = harness();
    h.sockets[0]!({ type: 'socket.opened' });
    h.sockets[0]!({ type: 'socket.snapshot', bootId: 'a', startedAt: '2026-03-02T09:00:00.000Z' });
    h.sockets[0]!({ type: 'socket.closed' });
    vi.advanceTimersByTime(500);
    h.sockets[1]!({ type: 'socket.opened' });
    h.sockets[1]!({ type: 'socket.snapshot', bootId: 'a', startedAt: '2026-03-02T09:00:00.000Z' });
    expect(h.actor.getSnapshot().context.restarts).toEqual([]);
    h.sockets[1]!({ type: 'socket.closed' });
    vi.advanceTimersByTime(500);
    h.sockets[2]!({ type: 'socket.opened' });
    h.sockets[2]!({ type: 'socket.snapshot', bootId: 'b', startedAt: '2026-03-02T09:05:00.000Z' });
    expect(h.actor.getSnapshot().context.restarts.map((r) => [r.bootId, r.startedAt])).toEqual([['b', '2026-03-02T09:05:00.000Z']]);
  });

  it('drops a live socket that has been silent past the limit, but not one that keeps talking', () => {
    const h = harness();
    h.sockets[0]!({ type: 'socket.opened' });
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(SILENCE_LIMIT_MS - 1_000);
      h.sockets[0]!({ type: 'socket.message' });
    }
    expect(h.status()).toBe('live');
    vi.advanceTimersByTime(SILENCE_LIMIT_MS);
    expect(h.status()).toBe('reconnecting');
    expect(h.closed).toEqual([0]);
    expect(h.actor.getSnapshot().context.lastClose).toBe('no message for 50 s');
  });

  it('declares the watch on every open, and each change of it while live', () => {
    const h = harness();
    const a: StreamWatch = { type: 'watch', runs: ['run_a'], run: null, created: true };
    const b: StreamWatch = { type: 'watch', runs: [], run: 'run_b', created: false };
    h.actor.send({ type: 'watch.changed', watch: a });
    expect(h.sent[0]).toEqual([]);
    h.sockets[0]!({ type: 'socket.opened' });
    expect(h.sent[0]).toEqual([a]);
    h.actor.send({ type: 'watch.changed', watch: b });
    expect(h.sent[0]).toEqual([a, b]);

    h.sockets[0]!({ type: 'socket.closed' });
    vi.advanceTimersByTime(500);
    h.sockets[1]!({ type: 'socket.opened' });
    expect(h.sent[1]).toEqual([b]);
  });
});
