/** run.cancel from every non-final state. */
import { describe, expect, it } from 'vitest';
import { Host, T0, baseConfig, sec } from './drive.ts';

const CANCEL_AT = T0 + sec(500);

describe('run.cancel', () => {
  it('from idle → cancelled before the first attempt', () => {
    const h = Host.create();
    h.send({ type: 'run.cancel', reason: 'not needed', at: CANCEL_AT });
    expect(h.value).toBe('cancelled');
    expect(h.snapshot.status).toBe('done');
    expect(h.context.attempts).toEqual([]);
    expect(h.context).toMatchObject({ finishedAt: CANCEL_AT, updatedAt: CANCEL_AT, cancelReason: 'not needed' });
    expect(h.context.overallState).toBe('Cancelled before the first attempt: not needed');
  });

  it('from triggering → the open attempt becomes Cancelled and its timer is disarmed', () => {
    const h = Host.create();
    h.send({ type: 'run.start', at: T0 });
    h.send({ type: 'run.cancel', reason: 'wrong target', at: T0 + sec(1) });
    expect(h.value).toBe('cancelled');
    expect(h.context.attempts[0]).toMatchObject({
      state: 'Cancelled',
      message: 'Cancelled: wrong target',
      endedAt: T0 + sec(1),
      stateSet: T0 + sec(1),
    });
    expect(h.context.overallState).toBe('Cancelled during attempt 1: wrong target');
    expect(h.timers.size).toBe(0);
  });

  it('from awaitingCallback on attempt 2 → "Cancelled during attempt 2: <reason>"', () => {
    const h = Host.create(baseConfig({ timeoutSeconds: 10 }));
    h.send({ type: 'run.start', at: T0 });
    h.advanceTo(T0 + sec(11));
    h.send({ type: 'trigger.succeeded', attemptId: h.idOf(2), at: T0 + sec(12) });
    h.send({ type: 'run.cancel', reason: 'operator stopped it', at: T0 + sec(13) });
    expect(h.value).toBe('cancelled');
    expect(h.context.attempts.map((a) => a.state)).toEqual(['TimedOut', 'Cancelled']);
    expect(h.context.overallState).toBe('Cancelled during attempt 2: operator stopped it');
    expect(h.context.finishedAt).toBe(T0 + sec(13));
    expect(h.timers.size).toBe(0);
  });

  it('from retrying → no attempt is open, the backoff is dropped', () => {
    const h = Host.create(baseConfig({ timeoutSeconds: 10 }));
    h.send({ type: 'run.start', at: T0 });
    h.advanceTo(T0 + sec(10));
    expect(h.value).toBe('retrying');
    h.send({ type: 'run.cancel', at: T0 + sec(10.5) });
    expect(h.value).toBe('cancelled');
    expect(h.context.attempts.map((a) => a.state)).toEqual(['TimedOut']);
    expect(h.context.retryDue).toBeNull();
    expect(h.context.overallState).toBe('Cancelled during backoff after attempt 1: no reason given');
    expect(h.timers.size).toBe(0);
  });

  it.each([
    ['succeeded', (h: Host) => h.send({ type: 'callback.received', attemptId: h.idOf(1), success: true, at: T0 + sec(2) })],
    ['failed', (h: Host) => h.send({ type: 'callback.received', attemptId: h.idOf(1), success: false, retryable: false, at: T0 + sec(2) })],
    ['cancelled', (h: Host) => h.send({ type: 'run.cancel', reason: 'first', at: T0 + sec(2) })],
  ])('is refused once the run is %s (can() is false, nothing changes)', (final, finish) => {
    const h = Host.create();
    h.send({ type: 'run.start', at: T0 });
    finish(h);
    expect(h.value).toBe(final);
    const before = h.snapshot;
    const cancel = { type: 'run.cancel', reason: 'too late', at: T0 + sec(3) } as const;
    expect(h.snapshot.can(cancel)).toBe(false);
    h.send(cancel);
    expect(h.snapshot.context).toEqual(before.context);
    expect(h.snapshot.value).toEqual(before.value);
    expect(h.lastEffects).toEqual([]);
  });
});
