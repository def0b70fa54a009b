/** Opening an attempt, the trigger's answer, and callbacks (issue 2: triggering / trigger.* / callback.received). */
import { describe, expect, it } from 'vitest';
import { attemptIdFor, leafState } from '../src/index.ts';
import { Host, T0, TIMER, baseConfig, effectTypes, sec } from './drive.ts';

const started = (config = baseConfig(), at = T0 + sec(1)) => {
  const h = Host.create(config);
  h.send({ type: 'run.start', at });
  return h;
};

describe('idle', () => {
  it('starts in idle with no attempt, no timer and no effect', () => {
    const h = Host.create();
    expect(h.value).toBe('idle');
    expect(h.context.attempts).toEqual([]);
    expect(h.context.overallState).toBe('Created; not started.');
    expect([h.context.createdAt, h.context.updatedAt]).toEqual([T0, T0]);
    expect(h.timers.size).toBe(0);
    expect(h.triggers).toEqual([]);
  });
});

describe('triggering opens attempt n', () => {
  it('records the attempt with a deterministic id and absolute times', () => {
    const at = T0 + sec(5);
    const h = started(baseConfig({ timeoutSeconds: 60 }), at);
    expect(h.value).toEqual({ attempt: 'triggering' });
    expect(h.context.attempts).toHaveLength(1);
    expect(h.attempt).toMatchObject({
      id: 'att_test_1',
      number: 1,
      started: at,
      stateSet: at,
      timeoutDue: at + sec(60),
      state: 'Triggering',
      isSuccess: false,
      triggeredAt: null,
      endedAt: null,
      heartbeatDue: null,
      timerLatenessMs: null,
    });
    expect(h.attempt?.message).toBe('Triggering POST https://jobs.example.com/start');
    expect(h.context.overallState).toBe('Attempt 1 of 3: triggering the external system.');
    expect(h.context.updatedAt).toBe(at);
  });

  it('derives attempt ids from the run id and number only', () => {
    expect(attemptIdFor('run_7Hq2', 3)).toBe('att_7Hq2_3');
    expect(attemptIdFor('legacy', 1)).toBe('att_legacy_1');
    const a = Host.create(baseConfig(), { runId: 'run_same' });
    const b = Host.create(baseConfig({ timeoutSeconds: 5 }), { runId: 'run_same', at: T0 + sec(99) });
    a.send({ type: 'run.start', at: T0 + sec(1) });
    b.send({ type: 'run.start', at: T0 + sec(200) });
    expect(a.attempt?.id).toBe(b.attempt?.id);
  });

  it('emits the sendTrigger effect and arms the attempt timer at timeoutDue', () => {
    const at = T0 + sec(1);
    const h = started(baseConfig({ timeoutSeconds: 2.5 }), at);
    expect(effectTypes(h.lastEffects)).toEqual(['sendTrigger', 'armTimer']);
    expect(h.lastEffects[0]).toEqual({ type: 'sendTrigger', attemptId: 'att_test_1', number: 1 });
    expect(h.triggers).toEqual([{ attemptId: 'att_test_1', number: 1 }]);
    expect([...h.timers.values()]).toEqual([{ id: TIMER.triggering, dueAt: at + 2500, eventType: TIMER.triggering }]);
  });

  it('uses the configured method in the message', () => {
    const h = started(baseConfig({ target: { url: 'https://x.test/put', method: 'PUT' } }));
    expect(h.attempt?.message).toBe('Triggering PUT https://x.test/put');
  });
});

describe('the trigger answer', () => {
  it('trigger.succeeded → awaitingCallback (AwaitingCallback), re-arming the same due time', () => {
    const h = started();
    const at = T0 + sec(3);
    expect(h.snapshot.can({ type: 'trigger.succeeded', attemptId: 'att_test_1', at })).toBe(true);
    h.send({ type: 'trigger.succeeded', attemptId: 'att_test_1', at });
    expect(h.value).toEqual({ attempt: 'awaitingCallback' });
    expect(h.attempt).toMatchObject({ state: 'AwaitingCallback', stateSet: at, triggeredAt: at, started: T0 + sec(1), endedAt: null });
    expect(h.attempt?.message).toBe('Triggered; waiting for the callback.');
    expect(effectTypes(h.lastEffects)).toEqual(['cancelTimer', 'armTimer']);
    expect([...h.timers.values()]).toEqual([{ id: TIMER.awaitingCallback, dueAt: T0 + sec(61), eventType: TIMER.awaitingCallback }]);
    expect(h.context.overallState).toBe('Attempt 1 of 3: awaiting callback until 2025-01-01T00:01:01.000Z.');
  });

  it('trigger.failed → errored (TriggerFailed) → retrying while retries remain', () => {
    const h = started();
    const at = T0 + sec(2);
    h.send({ type: 'trigger.failed', attemptId: 'att_test_1', message: 'HTTP 503 Service Unavailable', at });
    expect(h.value).toBe('retrying');
    expect(h.attempt).toMatchObject({ state: 'TriggerFailed', message: 'Trigger failed: HTTP 503 Service Unavailable', endedAt: at, stateSet: at });
    expect(h.context.retryDue).toBe(at + sec(1));
    expect([...h.timers.values()]).toEqual([{ id: TIMER.retrying, dueAt: at + sec(1), eventType: TIMER.retrying }]);
  });

  it('trigger.failed on the last attempt → failed', () => {
    const h = started(baseConfig({ retryLimit: 0 }));
    h.send({ type: 'trigger.failed', attemptId: 'att_test_1', message: 'connection refused', at: T0 + sec(2) });
    expect(h.value).toBe('failed');
    expect(h.snapshot.status).toBe('done');
    expect(h.context.failureReason).toBe('exhausted');
    expect(h.context.finishedAt).toBe(T0 + sec(2));
    expect(h.context.overallState).toBe('Failed after 1 attempt. Final state TriggerFailed: Trigger failed: connection refused');
    expect(h.timers.size).toBe(0);
  });

  it('an empty trigger.failed message still says what happened', () => {
    const h = started();
    h.send({ type: 'trigger.failed', attemptId: 'att_test_1', message: '', at: T0 + sec(2) });
    expect(h.context.attempts[0]?.message).toBe('Trigger failed: Trigger failed');
  });
});

describe('callbacks', () => {
  it.each([
    ['awaitingCallback', true],
    ['triggering (the callback beat the trigger response)', false],
  ])('success during %s → succeeded (CallbackSuccess, isSuccess true)', (_where, acknowledge) => {
    const h = started();
    if (acknowledge) h.send({ type: 'trigger.succeeded', attemptId: 'att_test_1', at: T0 + sec(2) });
    const at = T0 + sec(30);
    const cb = { type: 'callback.received', attemptId: 'att_test_1', success: true, message: 'Export done', output: { rows: 42 }, at } as const;
    expect(h.snapshot.can(cb)).toBe(true);
    h.send(cb);
    expect(h.value).toBe('succeeded');
    expect(h.snapshot.status).toBe('done');
    expect(h.attempt).toMatchObject({
      state: 'CallbackSuccess',
      isSuccess: true,
      message: 'Export done',
      output: { rows: 42 },
      endedAt: at,
      stateSet: at,
      callback: { success: true, message: 'Export done', output: { rows: 42 } },
    });
    expect(h.attempt?.triggeredAt).toBe(acknowledge ? T0 + sec(2) : null);
    expect(h.context.finishedAt).toBe(at);
    expect(h.context.overallState).toBe('Completed after 1 attempt. Final state CallbackSuccess: Export done');
    expect(h.timers.size).toBe(0);
    expect(leafState(h.value)).toBe('succeeded');
  });

  it('a success without a message gets a default one', () => {
    const h = started();
    h.send({ type: 'callback.received', attemptId: 'att_test_1', success: true, at: T0 + sec(9) });
    expect(h.attempt?.message).toBe('External system called back with success.');
    expect(h.attempt).not.toHaveProperty('output');
  });

  it.each([
    ['awaitingCallback', true],
    ['triggering', false],
  ])('failure during %s → errored (CallbackFailure) → retrying', (_where, acknowledge) => {
    const h = started();
    if (acknowledge) h.send({ type: 'trigger.succeeded', attemptId: 'att_test_1', at: T0 + sec(2) });
    const at = T0 + sec(20);
    h.send({ type: 'callback.received', attemptId: 'att_test_1', success: false, message: 'disk full', at });
    expect(h.value).toBe('retrying');
    expect(h.attempt).toMatchObject({ state: 'CallbackFailure', isSuccess: false, message: 'disk full', endedAt: at, retryable: true });
    expect(h.context.retryDue).toBe(at + sec(1));
    expect(h.context.overallState).toBe('Attempt 1 of 3 ended CallbackFailure: disk full Attempt 2 starts at 2025-01-01T00:00:21.000Z.');
  });

  it('failure with retryable:false → failed without retry, "(not retryable)"', () => {
    const h = started();
    h.send({ type: 'trigger.succeeded', attemptId: 'att_test_1', at: T0 + sec(2) });
    const at = T0 + sec(20);
    h.send({ type: 'callback.received', attemptId: 'att_test_1', success: false, retryable: false, message: 'bad input', at });
    expect(h.value).toBe('failed');
    expect(h.context.attempts).toHaveLength(1);
    expect(h.attempt).toMatchObject({
      state: 'CallbackFailure',
      retryable: false,
      callback: { success: false, retryable: false, message: 'bad input' },
    });
    expect(h.context.failureReason).toBe('notRetryable');
    expect(h.context.overallState).toBe('Failed after 1 attempt. Final state CallbackFailure: bad input (not retryable)');
    expect(h.timers.size).toBe(0);
    expect(h.triggers).toHaveLength(1);
  });

  it('retryable:true on a failure is the default behaviour', () => {
    const h = started();
    h.send({ type: 'callback.received', attemptId: 'att_test_1', success: false, retryable: true, at: T0 + sec(4) });
    expect(h.value).toBe('retrying');
    expect(h.attempt?.message).toBe('External system called back with failure.');
  });
});
