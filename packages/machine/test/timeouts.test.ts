/** Attempt timeouts: the callback timeout, heartbeats, operator force-timeout and late or early timers. */
import { describe, expect, it } from 'vitest';
import { Host, T0, TIMER, baseConfig, sec } from './drive.ts';

const START = T0 + sec(1);

function awaiting(config = baseConfig()) {
  const h = Host.create(config);
  h.send({ type: 'run.start', at: START });
  h.send({ type: 'trigger.succeeded', attemptId: h.idOf(1), at: START + sec(1) });
  return h;
}

describe('callback timeout', () => {
  it('no callback by timeoutDue → TimedOut "Callback not received within 60 s."', () => {
    const h = awaiting();
    expect(h.advanceTo(START + sec(60) - 1)).toEqual([]);
    expect(h.value).toEqual({ attempt: 'awaitingCallback' });
    expect(h.advanceTo(START + sec(60))).toEqual([{ type: TIMER.awaitingCallback, at: START + sec(60) }]);
    const first = h.context.attempts[0]!;
    expect(first).toMatchObject({
      state: 'TimedOut',
      message: 'Callback not received within 60 s.',
      endedAt: START + sec(60),
      stateSet: START + sec(60),
      timerLatenessMs: 0,
      isSuccess: false,
    });
    expect(h.value).toBe('retrying');
  });

  it('times out from triggering too, when the trigger never answers', () => {
    const h = Host.create(baseConfig({ timeoutSeconds: 10 }));
    h.send({ type: 'run.start', at: START });
    expect(h.advanceTo(START + sec(10))).toEqual([{ type: TIMER.triggering, at: START + sec(10) }]);
    expect(h.context.attempts[0]).toMatchObject({ state: 'TimedOut', triggeredAt: null, message: 'Callback not received within 10 s.' });
  });

  it('formats fractional timeouts', () => {
    const h = awaiting(baseConfig({ timeoutSeconds: 1.5 }));
    h.advanceTo(START + 1500);
    expect(h.context.attempts[0]?.message).toBe('Callback not received within 1.5 s.');
  });

  it('records timerLatenessMs when the timer fires late, and schedules the retry from the actual time', () => {
    const h = awaiting();
    h.advanceTo(START + sec(60), 1234);
    expect(h.context.attempts[0]).toMatchObject({ state: 'TimedOut', endedAt: START + sec(60) + 1234, timerLatenessMs: 1234 });
    expect(h.context.retryDue).toBe(START + sec(61) + 1234);
  });

  it('ignores a timer fired before its due time', () => {
    const h = awaiting();
    const before = h.snapshot;
    const early = { type: TIMER.awaitingCallback, at: START + sec(59) } as const;
    expect(h.snapshot.can(early as never)).toBe(false);
    h.send(early);
    expect(h.lastAccepted).toBe(false);
    expect(h.snapshot.context).toEqual(before.context);
    expect(h.snapshot.value).toEqual(before.value);
    expect(h.lastEffects).toEqual([]);
  });

  it('ignores the triggering timer once the attempt is awaiting the callback', () => {
    const h = awaiting();
    const before = h.snapshot;
    h.send({ type: TIMER.triggering, at: START + sec(60) });
    expect(h.lastAccepted).toBe(false);
    expect(h.snapshot.context).toEqual(before.context);
  });
});

describe('heartbeats', () => {
  const hbConfig = () => baseConfig({ timeoutSeconds: 60, heartbeatTimeoutSeconds: 10 });

  it('the trigger acknowledgement starts the heartbeat clock; the one timer fires at the earlier deadline', () => {
    const h = awaiting(hbConfig());
    expect(h.attempt?.heartbeatDue).toBe(START + sec(11));
    expect([...h.timers.values()].map((t) => t.dueAt)).toEqual([START + sec(11)]);
    expect(h.context.overallState).toBe('Attempt 1 of 3: awaiting callback until 2025-01-01T00:00:12.000Z.');
  });

  it('each heartbeat moves heartbeatDue and re-arms the timer', () => {
    const h = awaiting(hbConfig());
    h.advanceTo(START + sec(8));
    h.send({ type: 'heartbeat.received', attemptId: h.idOf(1), progress: { percent: 40 }, at: START + sec(8) });
    expect(h.lastAccepted).toBe(true);
    expect(h.attempt).toMatchObject({ heartbeatDue: START + sec(18), lastHeartbeatAt: START + sec(8), progress: { percent: 40 } });
    expect([...h.timers.values()].map((t) => t.dueAt)).toEqual([START + sec(18)]);
    h.advanceTo(START + sec(17));
    h.send({ type: 'heartbeat.received', attemptId: h.idOf(1), at: START + sec(17) });
    expect(h.attempt).toMatchObject({ heartbeatDue: START + sec(27), progress: { percent: 40 } });
    expect(h.value).toEqual({ attempt: 'awaitingCallback' });
  });

  it('a missed heartbeat → HeartbeatTimedOut naming the last one', () => {
    const h = awaiting(hbConfig());
    h.send({ type: 'heartbeat.received', attemptId: h.idOf(1), at: START + sec(5) });
    h.advanceTo(START + sec(15));
    expect(h.context.attempts[0]).toMatchObject({
      state: 'HeartbeatTimedOut',
      message: 'No heartbeat within 10 s (last at 2025-01-01T00:00:06.000Z).',
      endedAt: START + sec(15),
      timerLatenessMs: 0,
    });
    expect(h.value).toBe('retrying');
  });

  it('a missed first heartbeat says so without a last time', () => {
    const h = awaiting(hbConfig());
    h.advanceTo(START + sec(11));
    expect(h.context.attempts[0]?.message).toBe('No heartbeat within 10 s.');
  });

  it('heartbeats cannot extend an attempt past its callback timeout', () => {
    const h = awaiting(hbConfig());
    for (let t = 9; t <= 59; t += 9) {
      h.advanceTo(START + sec(t));
      h.send({ type: 'heartbeat.received', attemptId: h.idOf(1), at: START + sec(t) });
    }
    expect([...h.timers.values()].map((t) => t.dueAt)).toEqual([START + sec(60)]);
    h.advanceTo(START + sec(60));
    expect(h.context.attempts[0]).toMatchObject({ state: 'TimedOut', message: 'Callback not received within 60 s.' });
  });

  it('a heartbeat while triggering is recorded but does not start the heartbeat clock', () => {
    const h = Host.create(hbConfig());
    h.send({ type: 'run.start', at: START });
    h.send({ type: 'heartbeat.received', attemptId: h.idOf(1), progress: 'warming up', at: START + sec(1) });
    expect(h.lastAccepted).toBe(true);
    expect(h.attempt).toMatchObject({ state: 'Triggering', lastHeartbeatAt: START + sec(1), heartbeatDue: null, progress: 'warming up' });
    expect([...h.timers.values()].map((t) => t.dueAt)).toEqual([START + sec(60)]);
  });

  it('without heartbeatTimeoutSeconds heartbeats only record progress', () => {
    const h = awaiting();
    h.send({ type: 'heartbeat.received', attemptId: h.idOf(1), progress: 3, at: START + sec(30) });
    expect(h.attempt).toMatchObject({ heartbeatDue: null, lastHeartbeatAt: START + sec(30), progress: 3 });
    expect([...h.timers.values()].map((t) => t.dueAt)).toEqual([START + sec(60)]);
  });
});

describe('attempt.forceTimeout', () => {
  it.each([
    ['awaitingCallback', true],
    ['triggering', false],
  ])('times the attempt out now from %s', (_w, ack) => {
    const h = Host.create();
    h.send({ type: 'run.start', at: START });
    if (ack) h.send({ type: 'trigger.succeeded', attemptId: h.idOf(1), at: START + sec(1) });
    const at = START + sec(5);
    h.send({ type: 'attempt.forceTimeout', attemptId: h.idOf(1), at });
    expect(h.lastAccepted).toBe(true);
    expect(h.context.attempts[0]).toMatchObject({ state: 'TimedOut', message: 'Timed out by an operator.', endedAt: at, stateSet: at });
    expect(h.value).toBe('retrying');
    expect(h.context.retryDue).toBe(at + sec(1));
    expect([...h.timers.values()]).toEqual([{ id: TIMER.retrying, dueAt: at + sec(1), eventType: TIMER.retrying }]);
  });

  it('on the last attempt it fails the run', () => {
    const h = Host.create(baseConfig({ retryLimit: 0 }));
    h.send({ type: 'run.start', at: START });
    h.send({ type: 'attempt.forceTimeout', attemptId: h.idOf(1), at: START + sec(2) });
    expect(h.value).toBe('failed');
    expect(h.context.overallState).toBe('Failed after 1 attempt. Final state TimedOut: Timed out by an operator.');
  });
});
