/**
 * Events for a non-current attempt, or that the current state does not accept, change nothing and
 * `snapshot.can(event)` is false: that is how the host tells a late or stale callback from an accepted one.
 */
import { describe, expect, it } from 'vitest';
import { Host, T0, TIMER, baseConfig, sec, type HostEvent } from './drive.ts';

const AT = T0 + sec(1000);
const CONFIG = baseConfig({ timeoutSeconds: 100_000, retryLimit: 3, heartbeatTimeoutSeconds: 50_000 });

/** Each resting state, reached through the pure API; attempt 2 is current where there is one, so attempt 1 is stale. */
const reach: Record<string, () => Host> = {
  idle: () => Host.create(CONFIG),
  triggering: () => {
    const h = Host.create(CONFIG);
    h.send({ type: 'run.start', at: T0 });
    h.send({ type: 'trigger.failed', attemptId: h.idOf(1), message: 'x', at: T0 + 1 });
    h.send({ type: 'run.retryNow', at: T0 + 2 });
    return h;
  },
  awaitingCallback: () => {
    const h = reach.triggering!();
    h.send({ type: 'trigger.succeeded', attemptId: h.idOf(2), at: T0 + 3 });
    return h;
  },
  retrying: () => {
    const h = reach.awaitingCallback!();
    h.send({ type: 'callback.received', attemptId: h.idOf(2), success: false, at: T0 + 4 });
    return h;
  },
  succeeded: () => {
    const h = reach.awaitingCallback!();
    h.send({ type: 'callback.received', attemptId: h.idOf(2), success: true, at: T0 + 4 });
    return h;
  },
};

const forAttempt = (n: number): HostEvent[] => {
  const attemptId = `att_test_${n}`;
  return [
    { type: 'trigger.succeeded', attemptId, at: AT },
    { type: 'trigger.failed', attemptId, message: 'late', at: AT },
    { type: 'callback.received', attemptId, success: true, at: AT },
    { type: 'callback.received', attemptId, success: false, at: AT },
    { type: 'heartbeat.received', attemptId, at: AT },
    { type: 'attempt.forceTimeout', attemptId, at: AT },
  ];
};
const label = (e: HostEvent) => `${e.type}${'attemptId' in e ? ` ${e.attemptId}` : ''}${'success' in e ? ` success=${e.success}` : ''}`;

const refused: Record<string, HostEvent[]> = {
  idle: [
    ...forAttempt(1),
    { type: 'run.retryNow', at: AT },
    { type: TIMER.triggering, at: AT },
    { type: TIMER.awaitingCallback, at: AT },
    { type: TIMER.retrying, at: AT },
  ],
  triggering: [
    ...forAttempt(1),
    ...forAttempt(3),
    { type: 'run.start', at: AT },
    { type: 'run.retryNow', at: AT },
    { type: TIMER.triggering, at: T0 + 3 }, // early
    { type: TIMER.awaitingCallback, at: AT + sec(1e6) }, // belongs to another state
    { type: TIMER.retrying, at: AT },
  ],
  awaitingCallback: [
    ...forAttempt(1),
    ...forAttempt(3),
    { type: 'trigger.succeeded', attemptId: 'att_test_2', at: AT }, // duplicate acknowledgement
    { type: 'trigger.failed', attemptId: 'att_test_2', message: 'too late', at: AT }, // already acknowledged
    { type: 'callback.received', attemptId: 'run_test', success: true, at: AT },
    { type: 'run.start', at: AT },
    { type: 'run.retryNow', at: AT },
    { type: TIMER.awaitingCallback, at: AT }, // early
    { type: TIMER.triggering, at: AT + sec(1e6) },
    { type: TIMER.retrying, at: AT + sec(1e6) },
  ],
  retrying: [
    ...forAttempt(1),
    ...forAttempt(2),
    ...forAttempt(3),
    { type: 'run.start', at: AT },
    { type: TIMER.retrying, at: T0 + 5 }, // early: retryDue is T0 + 4 + 2 s
    { type: TIMER.triggering, at: AT + sec(1e6) },
    { type: TIMER.awaitingCallback, at: AT + sec(1e6) },
  ],
  succeeded: [
    ...forAttempt(1),
    ...forAttempt(2),
    { type: 'run.start', at: AT },
    { type: 'run.retryNow', at: AT },
    { type: 'run.cancel', reason: 'late', at: AT },
    { type: TIMER.retrying, at: AT },
    { type: TIMER.awaitingCallback, at: AT + sec(1e6) },
  ],
};

describe.each(Object.keys(refused))('in %s', (state) => {
  it.each(refused[state]!.map((e) => [label(e), e] as const))('%s is refused and changes nothing', (_l, event) => {
    const h = reach[state]!();
    const before = h.snapshot;
    const timersBefore = [...h.timers.values()];
    expect(h.snapshot.can(event as never)).toBe(false);
    h.send(event);
    expect(h.snapshot.value).toEqual(before.value);
    expect(h.snapshot.context).toEqual(before.context);
    expect(h.snapshot.status).toBe(before.status);
    expect(h.lastEffects).toEqual([]);
    expect([...h.timers.values()]).toEqual(timersBefore);
  });
});

describe('reaching the states', () => {
  it.each(Object.keys(reach))('%s is where the table thinks it is', (state) => {
    const h = reach[state]!();
    const leaf = typeof h.value === 'string' ? h.value : Object.values(h.value)[0];
    expect(leaf).toBe(state);
    if (state !== 'idle') expect(h.context.attempts).toHaveLength(2);
  });

  it('the same events for the current attempt are accepted (can() is true)', () => {
    const h = reach.awaitingCallback!();
    for (const e of [
      { type: 'callback.received', attemptId: 'att_test_2', success: true, at: AT },
      { type: 'callback.received', attemptId: 'att_test_2', success: false, at: AT },
      { type: 'heartbeat.received', attemptId: 'att_test_2', at: AT },
      { type: 'attempt.forceTimeout', attemptId: 'att_test_2', at: AT },
      { type: 'run.cancel', at: AT },
    ] as const)
      expect(h.snapshot.can(e), e.type).toBe(true);
  });
});
