/** Whole runs end to end, and the overallState sentences in the seed's style. */
import { describe, expect, it } from 'vitest';
import { toRun } from '../src/index.ts';
import { Host, T0, TIMER, baseConfig, sec } from './drive.ts';

describe('the seed scenario: attempt 1 is never called back, attempt 2 succeeds', () => {
  it('times out attempt 1, retries after the backoff, completes on attempt 2', () => {
    const h = Host.create(baseConfig({ name: 'nightly export', timeoutSeconds: 60, retryLimit: 2, backoff: { initialSeconds: 5 } }), {
      runId: 'run_seed',
    });
    h.send({ type: 'run.start', at: T0 });
    expect(h.triggers).toEqual([{ attemptId: 'att_seed_1', number: 1 }]);
    h.send({ type: 'trigger.succeeded', attemptId: 'att_seed_1', at: T0 + 200 });

    // Nobody calls back: the timer fires at 60 s.
    expect(h.advanceTo(T0 + sec(60))).toEqual([{ type: TIMER.awaitingCallback, at: T0 + sec(60) }]);
    expect(h.context.attempts[0]).toMatchObject({ state: 'TimedOut', message: 'Callback not received within 60 s.' });
    expect(h.value).toBe('retrying');
    expect(h.context.retryDue).toBe(T0 + sec(65));

    // A late callback for attempt 1 arrives during backoff: refused.
    const late = { type: 'callback.received', attemptId: 'att_seed_1', success: true, at: T0 + sec(62) } as const;
    expect(h.snapshot.can(late)).toBe(false);

    expect(h.advanceTo(T0 + sec(65))).toEqual([{ type: TIMER.retrying, at: T0 + sec(65) }]);
    expect(h.triggers.at(-1)).toEqual({ attemptId: 'att_seed_2', number: 2 });
    h.send({ type: 'trigger.succeeded', attemptId: 'att_seed_2', at: T0 + sec(65.3) });
    h.advanceTo(T0 + sec(90));
    h.send({ type: 'callback.received', attemptId: 'att_seed_2', success: true, message: 'Export finished: 1200 rows', at: T0 + sec(90) });

    expect(h.value).toBe('succeeded');
    expect(h.context.overallState).toBe('Completed after 2 attempts. Final state CallbackSuccess: Export finished: 1200 rows');
    const run = toRun(h.snapshot);
    expect(run).toMatchObject({
      status: 'succeeded',
      state: 'succeeded',
      attempt: 2,
      maxAttempts: 3,
      finishedAt: '2025-01-01T00:01:30.000Z',
      nextDueAt: null,
    });
    expect(run.attempts.map((a) => [a.id, a.state, a.isSuccess, a.started, a.endedAt])).toEqual([
      ['att_seed_1', 'TimedOut', false, '2025-01-01T00:00:00.000Z', '2025-01-01T00:01:00.000Z'],
      ['att_seed_2', 'CallbackSuccess', true, '2025-01-01T00:01:05.000Z', '2025-01-01T00:01:30.000Z'],
    ]);
    expect(h.timers.size).toBe(0);
  });
});

describe('overallState sentences', () => {
  it('walks through every sentence of a run', () => {
    const h = Host.create(baseConfig({ timeoutSeconds: 30, retryLimit: 2 }));
    const seen = [h.context.overallState];
    h.send({ type: 'run.start', at: T0 });
    seen.push(h.context.overallState);
    h.send({ type: 'trigger.succeeded', attemptId: h.idOf(1), at: T0 + sec(1) });
    seen.push(h.context.overallState);
    h.send({ type: 'trigger.failed', attemptId: h.idOf(1), message: 'ignored', at: T0 + sec(2) }); // refused: already acknowledged
    h.send({ type: 'callback.received', attemptId: h.idOf(1), success: false, message: 'quota exceeded', at: T0 + sec(3) });
    seen.push(h.context.overallState);
    h.advanceTo(T0 + sec(4));
    seen.push(h.context.overallState);
    h.send({ type: 'run.cancel', reason: 'quota will not reset today', at: T0 + sec(5) });
    seen.push(h.context.overallState);
    expect(seen).toEqual([
      'Created; not started.',
      'Attempt 1 of 3: triggering the external system.',
      'Attempt 1 of 3: awaiting callback until 2025-01-01T00:00:30.000Z.',
      'Attempt 1 of 3 ended CallbackFailure: quota exceeded Attempt 2 starts at 2025-01-01T00:00:04.000Z.',
      'Attempt 2 of 3: triggering the external system.',
      'Cancelled during attempt 2: quota will not reset today',
    ]);
  });

  it('"Completed after 1 attempt" is singular', () => {
    const h = Host.create();
    h.send({ type: 'run.start', at: T0 });
    h.send({ type: 'callback.received', attemptId: h.idOf(1), success: true, message: 'ok', at: T0 + 5 });
    expect(h.context.overallState).toBe('Completed after 1 attempt. Final state CallbackSuccess: ok');
  });

  it('"Failed after 3 attempts" names the final attempt state and message', () => {
    const h = Host.create(baseConfig({ retryLimit: 2 }));
    h.send({ type: 'run.start', at: T0 });
    h.send({ type: 'trigger.failed', attemptId: h.idOf(1), message: 'HTTP 500', at: T0 + 1 });
    h.send({ type: 'run.retryNow', at: T0 + 2 });
    h.send({ type: 'callback.received', attemptId: h.idOf(2), success: false, message: 'crashed', at: T0 + 3 });
    h.send({ type: 'run.retryNow', at: T0 + 4 });
    h.advanceTo(T0 + sec(1000));
    expect(h.context.attempts.map((a) => a.state)).toEqual(['TriggerFailed', 'CallbackFailure', 'TimedOut']);
    expect(h.context.overallState).toBe('Failed after 3 attempts. Final state TimedOut: Callback not received within 60 s.');
  });

  it('the awaiting sentence shows the earlier heartbeat deadline', () => {
    const h = Host.create(baseConfig({ heartbeatTimeoutSeconds: 5 }));
    h.send({ type: 'run.start', at: T0 });
    h.send({ type: 'trigger.succeeded', attemptId: h.idOf(1), at: T0 });
    expect(h.context.overallState).toBe('Attempt 1 of 3: awaiting callback until 2025-01-01T00:00:05.000Z.');
    h.send({ type: 'heartbeat.received', attemptId: h.idOf(1), at: T0 + sec(4) });
    expect(h.context.overallState).toBe('Attempt 1 of 3: awaiting callback until 2025-01-01T00:00:09.000Z.');
  });
});
