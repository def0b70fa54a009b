/** retryDelay and forecast, and that forecast is what the machine actually does. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MIN_ATTEMPT_PERIOD_MS, forecast, nextAttemptAt, retryDelay, retryDelayMs, unitHash, type RunConfig } from '../src/index.ts';
import { Host, T0, baseConfig, sec } from './drive.ts';

describe('retryDelay', () => {
  it('is exponential from initialSeconds by multiplier, capped at maxSeconds', () => {
    const b = { initialSeconds: 1, multiplier: 2, maxSeconds: 300, jitter: 'none' } as const;
    expect([1, 2, 3, 4, 5, 9, 10, 11, 50].map((n) => retryDelay(b, n, 'run_x'))).toEqual([1, 2, 4, 8, 16, 256, 300, 300, 300]);
    expect([1, 2, 3].map((n) => retryDelay({ initialSeconds: 0.5, multiplier: 3 }, n, 's'))).toEqual([0.5, 1.5, 4.5]);
    expect(retryDelay({ initialSeconds: 7, multiplier: 1 }, 40, 's')).toBe(7);
  });

  it('uses the defaults when no backoff is given', () => {
    expect([1, 2, 3].map((n) => retryDelay(undefined, n, 'seed'))).toEqual([1, 2, 4]);
  });

  it('stays at the cap when the exponential overflows', () => {
    expect(retryDelay({ initialSeconds: 1, multiplier: 100, maxSeconds: 60 }, 1000, 's')).toBe(60);
  });

  it('stays 0 with initialSeconds 0, however far the exponential goes', () => {
    expect(retryDelay({ initialSeconds: 0, multiplier: 100, maxSeconds: 300 }, 1, 's')).toBe(0);
    expect(retryDelay({ initialSeconds: 0, multiplier: 100, maxSeconds: 300 }, 1001, 's')).toBe(0);
  });

  it('full jitter is deterministic per (seed, attempt) and within [0, d]', () => {
    const b = { initialSeconds: 10, multiplier: 2, maxSeconds: 1000, jitter: 'full' } as const;
    const d = retryDelay(b, 3, 'run_a');
    expect(retryDelay(b, 3, 'run_a')).toBe(d);
    expect(d).toBeGreaterThanOrEqual(0);
    expect(d).toBeLessThanOrEqual(40);
    expect(d).toBe(40 * unitHash('run_a:3'));
    // Different runs and attempts spread out.
    const spread = new Set(Array.from({ length: 50 }, (_, i) => retryDelay(b, 3, `run_${i}`)));
    expect(spread.size).toBeGreaterThan(45);
  });

  it('equal jitter is within [d/2, d]', () => {
    const b = { initialSeconds: 8, multiplier: 2, maxSeconds: 1000, jitter: 'equal' } as const;
    for (let i = 0; i < 100; i++) {
      const d = retryDelay(b, 2, `run_${i}`);
      expect(d).toBeGreaterThanOrEqual(8);
      expect(d).toBeLessThanOrEqual(16);
    }
  });

  it('retryDelayMs is the delay in whole milliseconds', () => {
    expect(retryDelayMs({ initialSeconds: 0.0015 }, 1, 's')).toBe(2);
    expect(retryDelayMs({ initialSeconds: 1.2345, jitter: 'none' }, 1, 's')).toBe(1235);
  });

  it('unitHash is in [0, 1) and stable', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const u = unitHash(s);
        return u >= 0 && u < 1 && unitHash(s) === u;
      }),
      { numRuns: 200 },
    );
    expect(unitHash('run_a:1')).not.toBe(unitHash('run_a:2'));
  });
});

/** What the machine does when every attempt is acknowledged and then never called back, timers firing on time. */
function silentOutcome(config: RunConfig, runId = 'run_fc') {
  const h = Host.create(config, { runId, at: T0 });
  h.send({ type: 'run.start', at: T0 });
  let guard = 0;
  while (h.snapshot.status === 'active') {
    if (guard++ > 10_000) throw new Error('run did not finish');
    const a = h.attempt;
    if (a?.state === 'Triggering') h.send({ type: 'trigger.succeeded', attemptId: a.id, at: a.started });
    else h.fireNext();
  }
  return {
    attempts: h.context.attempts.map((a, i, all) => ({
      number: a.number,
      startsAt: a.started,
      timeoutDue: a.timeoutDue,
      gapBeforeMs: i === 0 ? 0 : a.started - all[i - 1]!.endedAt!,
    })),
    givesUpAt: h.context.finishedAt,
    failureReason: h.context.failureReason,
    host: h,
  };
}

const planned = (f: ReturnType<typeof forecast>) =>
  f.attempts.map(({ number, startsAt, timeoutDue, gapBeforeMs }) => ({ number, startsAt, timeoutDue, gapBeforeMs }));

describe('forecast', () => {
  it('before launch: every attempt waits its whole timeout, then backs off', () => {
    const config = baseConfig({ timeoutSeconds: 60, retryLimit: 2, backoff: { initialSeconds: 10, multiplier: 3 } });
    const f = forecast(config, { startAt: T0 }, 'run_fc');
    expect(planned(f)).toEqual([
      { number: 1, startsAt: T0, timeoutDue: T0 + sec(60), gapBeforeMs: 0 },
      { number: 2, startsAt: T0 + sec(70), timeoutDue: T0 + sec(130), gapBeforeMs: sec(10) },
      { number: 3, startsAt: T0 + sec(160), timeoutDue: T0 + sec(220), gapBeforeMs: sec(30) },
    ]);
    expect(f.givesUpAt).toBe(T0 + sec(220));
    expect(f.stopsBecause).toBe('retryLimit');
    const actual = silentOutcome(config);
    expect(actual.attempts).toEqual(planned(f));
    expect(actual.givesUpAt).toBe(f.givesUpAt);
  });

  it('with a deadline: caps the last timeout and stops retrying', () => {
    const config = baseConfig({ timeoutSeconds: 60, retryLimit: 10, deadlineSeconds: 150, backoff: { initialSeconds: 5 } });
    const f = forecast(config, { startAt: T0 }, 'run_fc');
    expect(planned(f)).toEqual([
      { number: 1, startsAt: T0, timeoutDue: T0 + sec(60), gapBeforeMs: 0 },
      { number: 2, startsAt: T0 + sec(65), timeoutDue: T0 + sec(125), gapBeforeMs: sec(5) },
      { number: 3, startsAt: T0 + sec(135), timeoutDue: T0 + sec(150), gapBeforeMs: sec(10) },
    ]);
    expect(f.givesUpAt).toBe(T0 + sec(150));
    expect(f.stopsBecause).toBe('deadline');
    const actual = silentOutcome(config);
    expect(actual.attempts).toEqual(planned(f));
    expect(actual.givesUpAt).toBe(f.givesUpAt);
    expect(actual.failureReason).toBe('deadline');
  });

  it('with jitter, from the same runId, matches the machine', () => {
    const config = baseConfig({ timeoutSeconds: 3, retryLimit: 4, backoff: { initialSeconds: 2, jitter: 'full' } });
    const f = forecast(config, { startAt: T0 }, 'run_jit');
    const actual = silentOutcome(config, 'run_jit');
    expect(actual.attempts).toEqual(planned(f));
    expect(actual.givesUpAt).toBe(f.givesUpAt);
  });

  it('from a live snapshot mid-run: the remaining schedule is what the machine then does', () => {
    const config = baseConfig({ timeoutSeconds: 20, retryLimit: 3, backoff: { initialSeconds: 4, jitter: 'equal' } });
    const whole = silentOutcome(config, 'run_live');
    const h = Host.create(config, { runId: 'run_live', at: T0 });
    h.send({ type: 'run.start', at: T0 });
    const checkpoints: string[] = [];
    while (h.snapshot.status === 'active') {
      const f = forecast(config, h.snapshot);
      const doneNumbers = h.context.attempts.filter((a) => a.endedAt !== null).length;
      expect(planned(f).map(({ number, startsAt, timeoutDue }) => ({ number, startsAt, timeoutDue }))).toEqual(
        whole.attempts.slice(doneNumbers).map(({ number, startsAt, timeoutDue }) => ({ number, startsAt, timeoutDue })),
      );
      expect(f.givesUpAt).toBe(whole.givesUpAt);
      expect(f.attempts.filter((a) => a.current).map((a) => a.number)).toEqual(h.attempt && h.attempt.endedAt === null ? [h.attempt.number] : []);
      checkpoints.push(JSON.stringify(h.value));
      const a = h.attempt;
      if (a?.state === 'Triggering') h.send({ type: 'trigger.succeeded', attemptId: a.id, at: a.started });
      else h.fireNext();
    }
    expect(new Set(checkpoints)).toEqual(new Set(['{"attempt":"triggering"}', '{"attempt":"awaitingCallback"}', '"retrying"']));
    // Once final, nothing remains.
    expect(forecast(config, h.snapshot)).toEqual({ attempts: [], givesUpAt: whole.givesUpAt, stopsBecause: 'retryLimit' });
  });

  it('from an idle snapshot, plans from its creation time', () => {
    const config = baseConfig({ timeoutSeconds: 10, retryLimit: 1 });
    const idle = Host.create(config, { runId: 'run_idle', at: T0 });
    expect(forecast(config, idle.snapshot)).toEqual(forecast(config, { startAt: T0 }, 'run_idle'));
  });

  it('matches the machine for any config when every attempt times out', () => {
    const backoff = fc.record(
      {
        initialSeconds: fc.double({ min: 0, max: 50, noNaN: true }),
        multiplier: fc.double({ min: 1, max: 4, noNaN: true }),
        maxSeconds: fc.double({ min: 50, max: 120, noNaN: true }),
        jitter: fc.constantFrom('none', 'full', 'equal'),
      },
      { requiredKeys: [] },
    );
    const config = fc.record(
      {
        target: fc.constant({ url: 'https://x.test/' }),
        timeoutSeconds: fc.double({ min: 0.001, max: 100, noNaN: true }),
        retryLimit: fc.integer({ min: 0, max: 6 }),
        backoff,
        deadlineSeconds: fc.double({ min: 0.001, max: 500, noNaN: true }),
      },
      { requiredKeys: ['target', 'timeoutSeconds', 'retryLimit'] },
    );
    fc.assert(
      fc.property(config, fc.constantFrom('run_a', 'run_b', 'run_c'), (c, runId) => {
        const f = forecast(c as RunConfig, { startAt: T0 }, runId);
        const actual = silentOutcome(c as RunConfig, runId);
        expect(actual.attempts).toEqual(planned(f));
        expect(actual.givesUpAt).toBe(f.givesUpAt);
        if (actual.failureReason === 'deadline') expect(f.stopsBecause).toBe('deadline');
        if (f.stopsBecause === 'retryLimit') expect(actual.failureReason).toBe('exhausted');
      }),
      { numRuns: 200 },
    );
  });
});

describe('minimum attempt period: a run cannot cycle attempts faster than MIN_ATTEMPT_PERIOD_MS', () => {
  /** Every trigger fails the moment it is sent; every retry timer fires on time. Returns the finished host. */
  function failingAtOnce(config: RunConfig) {
    const h = Host.create(config, { runId: 'run_fast', at: T0 });
    h.send({ type: 'run.start', at: T0 });
    while (h.snapshot.status === 'active') {
      const a = h.attempt!;
      if (a.state === 'Triggering') h.send({ type: 'trigger.failed', attemptId: a.id, message: 'HTTP 500', at: a.started });
      else h.fireNext();
      if (h.context.attempts.length > 1 + config.retryLimit) throw new Error('more attempts than allowed');
    }
    return h;
  }

  it('every trigger failing at once with backoff 0: 1000 retries take at least 1000 × the period of virtual time', () => {
    const h = failingAtOnce(baseConfig({ timeoutSeconds: 60, retryLimit: 1000, backoff: { initialSeconds: 0 } }));
    const attempts = h.context.attempts;
    expect(attempts).toHaveLength(1001);
    expect(attempts.every((a) => a.state === 'TriggerFailed' && a.endedAt === a.started)).toBe(true);
    // Each attempt starts exactly one period after the previous one started: the floor, not more.
    for (let i = 1; i < attempts.length; i++) expect(attempts[i]!.started - attempts[i - 1]!.started).toBe(MIN_ATTEMPT_PERIOD_MS);
    expect(h.context.finishedAt! - T0).toBeGreaterThanOrEqual(1000 * MIN_ATTEMPT_PERIOD_MS);
    expect(h.context.failureReason).toBe('exhausted');
  });

  it('tiny timeouts with full jitter (delays near 0) are held back the same way', () => {
    const config = baseConfig({ timeoutSeconds: 0.001, retryLimit: 200, backoff: { initialSeconds: 0.05, multiplier: 1, jitter: 'full' } });
    const h = Host.create(config, { runId: 'run_jittery', at: T0 });
    h.send({ type: 'run.start', at: T0 });
    while (h.snapshot.status === 'active') h.fireNext(); // no trigger outcome ever: each attempt times out after 1 ms
    const attempts = h.context.attempts;
    expect(attempts).toHaveLength(201);
    expect(attempts.every((a) => a.state === 'TimedOut')).toBe(true);
    for (let i = 1; i < attempts.length; i++) expect(attempts[i]!.started - attempts[i - 1]!.started).toBeGreaterThanOrEqual(MIN_ATTEMPT_PERIOD_MS);
    expect(h.context.finishedAt! - T0).toBeGreaterThanOrEqual(200 * MIN_ATTEMPT_PERIOD_MS);
  });

  it('an attempt that lasted the period or longer keeps exactly the backoff it asked for, zero included', () => {
    const zero = { initialSeconds: 0 };
    expect(nextAttemptAt(zero, { number: 1, started: T0 }, T0, 's')).toBe(T0 + 100);
    expect(nextAttemptAt(zero, { number: 1, started: T0 }, T0 + 40, 's')).toBe(T0 + 100);
    expect(nextAttemptAt(zero, { number: 1, started: T0 }, T0 + 100, 's')).toBe(T0 + 100);
    expect(nextAttemptAt(zero, { number: 1, started: T0 }, T0 + 5_000, 's')).toBe(T0 + 5_000);
    expect(nextAttemptAt({ initialSeconds: 0.03 }, { number: 1, started: T0 }, T0 + 50, 's')).toBe(T0 + 100);
    expect(nextAttemptAt({ initialSeconds: 1 }, { number: 1, started: T0 }, T0 + 10, 's')).toBe(T0 + 1_010);
    expect(nextAttemptAt({ initialSeconds: 2, multiplier: 3 }, { number: 2, started: T0 }, T0 + 60_000, 's')).toBe(T0 + 66_000);
  });

  it('forecast plans with the same floor, so the launch form shows what the machine will do', () => {
    const config = baseConfig({ timeoutSeconds: 0.001, retryLimit: 3, backoff: { initialSeconds: 0 } });
    const f = forecast(config, { startAt: T0 }, 'run_fc');
    expect(planned(f)).toEqual([
      { number: 1, startsAt: T0, timeoutDue: T0 + 1, gapBeforeMs: 0 },
      { number: 2, startsAt: T0 + 100, timeoutDue: T0 + 101, gapBeforeMs: 99 },
      { number: 3, startsAt: T0 + 200, timeoutDue: T0 + 201, gapBeforeMs: 99 },
      { number: 4, startsAt: T0 + 300, timeoutDue: T0 + 301, gapBeforeMs: 99 },
    ]);
    const actual = silentOutcome(config);
    expect(actual.attempts).toEqual(planned(f));
    expect(actual.givesUpAt).toBe(f.givesUpAt);
  });
});
