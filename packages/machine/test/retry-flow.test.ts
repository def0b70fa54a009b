/** Retrying: backoff, retryNow, exhaustion and the run deadline. */
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../src/index.ts';
import { Host, T0, TIMER, baseConfig, sec } from './drive.ts';

/** A run whose every attempt is acknowledged and then never called back. */
function silentRun(config = baseConfig(), startAt = T0) {
  const h = Host.create(config, { at: T0 });
  h.send({ type: 'run.start', at: startAt });
  return h;
}

describe('retrying', () => {
  it('waits the backoff (retryDue) and then opens the next attempt at the fire time', () => {
    const h = silentRun(baseConfig({ timeoutSeconds: 10, backoff: { initialSeconds: 4, multiplier: 3 } }));
    h.advanceTo(T0 + sec(10));
    expect(h.value).toBe('retrying');
    expect(h.context.retryDue).toBe(T0 + sec(14));
    expect(h.context.overallState).toBe(
      'Attempt 1 of 3 ended TimedOut: Callback not received within 10 s. Attempt 2 starts at 2025-01-01T00:00:14.000Z.',
    );
    expect(h.triggers).toHaveLength(1);

    // Nothing happens before retryDue, and an early retry timer is refused.
    h.advanceTo(T0 + sec(14) - 1);
    expect(h.value).toBe('retrying');
    const early = { type: TIMER.retrying, at: T0 + sec(13) } as const;
    expect(h.snapshot.can(early as never)).toBe(false);

    h.advanceTo(T0 + sec(14));
    expect(h.value).toEqual({ attempt: 'triggering' });
    expect(h.context.retryDue).toBeNull();
    expect(h.attempt).toMatchObject({ id: 'att_test_2', number: 2, started: T0 + sec(14), timeoutDue: T0 + sec(24), state: 'Triggering' });
    expect(h.triggers).toEqual([
      { attemptId: 'att_test_1', number: 1 },
      { attemptId: 'att_test_2', number: 2 },
    ]);
    expect(h.context.overallState).toBe('Attempt 2 of 3: triggering the external system.');

    // The second gap is multiplied.
    h.advanceTo(T0 + sec(24));
    expect(h.context.retryDue).toBe(T0 + sec(24 + 12));
  });

  it('a late retry timer opens the attempt when it actually fired', () => {
    const h = silentRun(baseConfig({ timeoutSeconds: 10 }));
    h.advanceTo(T0 + sec(10));
    h.advanceTo(T0 + sec(11), 500);
    expect(h.attempt).toMatchObject({ number: 2, started: T0 + sec(11) + 500, timeoutDue: T0 + sec(21) + 500 });
  });

  it('run.retryNow skips the wait and disarms the backoff timer', () => {
    const h = silentRun(baseConfig({ timeoutSeconds: 10, backoff: { initialSeconds: 100, maxSeconds: 100 } }));
    h.advanceTo(T0 + sec(10));
    expect(h.context.retryDue).toBe(T0 + sec(110));
    const at = T0 + sec(12);
    expect(h.snapshot.can({ type: 'run.retryNow', at })).toBe(true);
    h.send({ type: 'run.retryNow', at });
    expect(h.value).toEqual({ attempt: 'triggering' });
    expect(h.attempt).toMatchObject({ number: 2, started: at, timeoutDue: at + sec(10) });
    expect([...h.timers.values()]).toEqual([{ id: TIMER.triggering, dueAt: at + sec(10), eventType: TIMER.triggering }]);
  });

  it('run.retryNow is refused outside backoff', () => {
    const h = silentRun();
    expect(h.snapshot.can({ type: 'run.retryNow', at: T0 + sec(1) })).toBe(false);
    const idle = Host.create();
    expect(idle.snapshot.can({ type: 'run.retryNow', at: T0 })).toBe(false);
  });

  it('exhaustion → failed: "Failed after 3 attempts. Final state TimedOut: …"', () => {
    const h = silentRun(baseConfig({ timeoutSeconds: 60, retryLimit: 2 }));
    h.advanceTo(T0 + sec(10_000));
    expect(h.value).toBe('failed');
    expect(h.snapshot.status).toBe('done');
    expect(h.context.attempts.map((a) => [a.number, a.state, a.started, a.endedAt])).toEqual([
      [1, 'TimedOut', T0, T0 + sec(60)],
      [2, 'TimedOut', T0 + sec(61), T0 + sec(121)],
      [3, 'TimedOut', T0 + sec(123), T0 + sec(183)],
    ]);
    expect(h.context.overallState).toBe('Failed after 3 attempts. Final state TimedOut: Callback not received within 60 s.');
    expect(h.context.failureReason).toBe('exhausted');
    expect(h.context.finishedAt).toBe(T0 + sec(183));
    expect(h.context.retryDue).toBeNull();
    expect(h.timers.size).toBe(0);
    expect(h.triggers.map((t) => t.number)).toEqual([1, 2, 3]);
  });

  it('retryLimit 0 means exactly one attempt', () => {
    const h = silentRun(baseConfig({ retryLimit: 0 }));
    h.advanceTo(T0 + sec(1000));
    expect(h.context.attempts).toHaveLength(1);
    expect(h.context.overallState).toBe('Failed after 1 attempt. Final state TimedOut: Callback not received within 60 s.');
  });

  it('jittered backoff is the one retryDelay gives for (runId, attempt)', () => {
    const config = baseConfig({ timeoutSeconds: 5, retryLimit: 3, backoff: { initialSeconds: 10, jitter: 'full' } });
    const h = silentRun(config);
    h.advanceTo(T0 + sec(5));
    expect(h.context.retryDue).toBe(T0 + sec(5) + retryDelayMs(config.backoff, 1, 'run_test'));
  });
});

describe('deadlineSeconds', () => {
  it('caps timeoutDue at the deadline and then stops retrying', () => {
    const h = silentRun(baseConfig({ timeoutSeconds: 60, retryLimit: 5, deadlineSeconds: 100 }));
    expect(h.context.deadlineAt).toBe(T0 + sec(100));
    expect(h.attempt).toMatchObject({ timeoutDue: T0 + sec(60), deadlineCapped: false });
    h.advanceTo(T0 + sec(61));
    expect(h.attempt).toMatchObject({ number: 2, started: T0 + sec(61), timeoutDue: T0 + sec(100), deadlineCapped: true });
    h.advanceTo(T0 + sec(100));
    expect(h.value).toBe('failed');
    expect(h.context.attempts[1]).toMatchObject({ state: 'TimedOut', message: 'Run deadline reached after 39 s without a callback.' });
    expect(h.context.failureReason).toBe('deadline');
    expect(h.context.overallState).toBe(
      'Failed after 2 attempts. Final state TimedOut: Run deadline reached after 39 s without a callback. (run deadline reached)',
    );
    expect(h.context.attempts).toHaveLength(2);
  });

  it('does not retry when the backoff would start the next attempt at or after the deadline', () => {
    const h = silentRun(baseConfig({ timeoutSeconds: 10, deadlineSeconds: 30, backoff: { initialSeconds: 20 } }));
    h.advanceTo(T0 + sec(10));
    expect(h.value).toBe('failed');
    expect(h.context.failureReason).toBe('deadline');
    expect(h.context.overallState).toBe('Failed after 1 attempt. Final state TimedOut: Callback not received within 10 s. (run deadline reached)');
  });

  it('retries while the next start is strictly before the deadline', () => {
    const h = silentRun(baseConfig({ timeoutSeconds: 10, deadlineSeconds: 30, backoff: { initialSeconds: 19.999 } }));
    h.advanceTo(T0 + sec(10));
    expect(h.value).toBe('retrying');
    h.advanceTo(T0 + sec(29.999));
    expect(h.attempt).toMatchObject({ number: 2, timeoutDue: T0 + sec(30), deadlineCapped: true });
  });

  it('a retry timer that fires after the deadline fails the run instead of starting an attempt', () => {
    const h = silentRun(baseConfig({ timeoutSeconds: 10, deadlineSeconds: 30, backoff: { initialSeconds: 5 } }));
    h.advanceTo(T0 + sec(10));
    expect(h.context.retryDue).toBe(T0 + sec(15));
    // The host was down: the retry timer fires 25 s late, past the deadline.
    h.advanceTo(T0 + sec(15), sec(25));
    expect(h.value).toBe('failed');
    expect(h.context.attempts).toHaveLength(1);
    expect(h.triggers).toHaveLength(1);
    expect(h.context.failureReason).toBe('deadline');
    expect(h.context.finishedAt).toBe(T0 + sec(40));
    expect(h.context.overallState).toBe('Failed after 1 attempt. Final state TimedOut: Callback not received within 10 s. (run deadline reached)');
  });

  it('run.retryNow after the deadline fails the run instead of starting an attempt', () => {
    const h = silentRun(baseConfig({ timeoutSeconds: 10, deadlineSeconds: 30, backoff: { initialSeconds: 19 } }));
    h.advanceTo(T0 + sec(10));
    expect(h.value).toBe('retrying');
    // The retry timer (due at 29 s) has not fired yet, e.g. the host is just back up, when the operator's
    // retryNow is delivered at 31 s.
    expect(h.context.retryDue).toBe(T0 + sec(29));
    h.send({ type: 'run.retryNow', at: T0 + sec(31) });
    expect(h.value).toBe('failed');
    expect(h.timers.size).toBe(0);
    expect(h.triggers).toHaveLength(1);
    expect(h.context.failureReason).toBe('deadline');
  });
});
