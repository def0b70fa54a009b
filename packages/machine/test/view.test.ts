import { describe, expect, it } from 'vitest';
import Value from 'typebox/value';
import {
  Attempt,
  Run,
  RunSummary,
  leafState,
  nextDueOf,
  redactConfig,
  resolveRunConfig,
  runStatusOf,
  toRun,
  toRunSummary,
  toWireAttempt,
} from '../src/index.ts';
import { Host, T0, baseConfig, roundTrip, sec } from './drive.ts';

const config = baseConfig({
  name: 'billing sync',
  target: { url: 'https://x.test/run', headers: { Authorization: 'Bearer s3cret', 'X-Tenant': 'acme' } },
  timeoutSeconds: 30,
  retryLimit: 1,
  heartbeatTimeoutSeconds: 10,
  deadlineSeconds: 3600,
});

describe('leafState', () => {
  it.each([
    ['idle', 'idle'],
    [{ attempt: 'awaitingCallback' }, 'awaitingCallback'],
    [{ attempt: 'triggering' }, 'triggering'],
    ['succeeded', 'succeeded'],
  ])('%j → %s', (value, leaf) => expect(leafState(value)).toBe(leaf));
});

describe('redactConfig', () => {
  it('replaces every header value and keeps the names', () => {
    const resolved = resolveRunConfig(config);
    const red = redactConfig(resolved);
    expect(red.target.headers).toEqual({ Authorization: '<redacted>', 'X-Tenant': '<redacted>' });
    expect(JSON.stringify(red)).not.toContain('s3cret');
    expect(resolved.target.headers?.Authorization).toBe('Bearer s3cret'); // not mutated
    const { target: _t, ...rest } = red;
    const { target: _r, ...restResolved } = resolved;
    expect(rest).toEqual(restResolved);
  });

  it('leaves a config without headers as is', () => {
    const resolved = resolveRunConfig(baseConfig());
    expect(redactConfig(resolved)).toEqual(resolved);
  });
});

describe('toRun / toRunSummary / nextDueOf', () => {
  it('idle run', () => {
    const h = Host.create(config, { runId: 'run_v' });
    expect(nextDueOf(h.snapshot)).toBeNull();
    expect(runStatusOf(h.snapshot)).toBe('running');
    const run = toRun(h.snapshot);
    expect(run).toMatchObject({
      id: 'run_v',
      name: 'billing sync',
      status: 'running',
      state: 'idle',
      attempts: [],
      attempt: 0,
      maxAttempts: 2,
      overallState: 'Created; not started.',
      createdAt: '2025-01-01T00:00:00.000Z',
      finishedAt: null,
      nextDueAt: null,
      retryDue: null,
      deadlineAt: '2025-01-01T01:00:00.000Z',
      rerunOf: null,
    });
    expect(run.config.target.headers).toEqual({ Authorization: '<redacted>', 'X-Tenant': '<redacted>' });
    expect(Value.Check(Run, run)).toBe(true);
    expect(toRunSummary(h.snapshot)).toMatchObject({ lastMessage: 'Created; not started.', attempt: 0, exhausted: false });
  });

  it('awaiting run: nextDue is the earlier of callback timeout and heartbeat', () => {
    const h = Host.create(config, { runId: 'run_v' });
    h.send({ type: 'run.start', at: T0 });
    expect(nextDueOf(h.snapshot)).toBe(T0 + sec(30));
    h.send({ type: 'trigger.succeeded', attemptId: h.idOf(1), at: T0 + sec(1) });
    h.send({ type: 'heartbeat.received', attemptId: h.idOf(1), progress: { percent: 10 }, at: T0 + sec(2) });
    expect(nextDueOf(h.snapshot)).toBe(T0 + sec(12));
    const urls = (runId: string, attemptId: string) => ({
      callbackUrl: `https://tether.test/cb/${runId}/${attemptId}`,
      heartbeatUrl: `https://tether.test/hb/${runId}/${attemptId}`,
    });
    const run = toRun(h.snapshot, { rerunOf: 'run_old' }, urls);
    expect(run).toMatchObject({
      state: 'awaitingCallback',
      status: 'running',
      attempt: 1,
      nextDueAt: '2025-01-01T00:00:12.000Z',
      rerunOf: 'run_old',
    });
    expect(run.attempts[0]).toEqual({
      id: 'att_v_1',
      number: 1,
      started: '2025-01-01T00:00:00.000Z',
      stateSet: '2025-01-01T00:00:01.000Z',
      timeoutDue: '2025-01-01T00:00:30.000Z',
      state: 'AwaitingCallback',
      message: 'Triggered; waiting for the callback.',
      isSuccess: false,
      callbackUrl: 'https://tether.test/cb/run_v/att_v_1',
      heartbeatUrl: 'https://tether.test/hb/run_v/att_v_1',
      triggeredAt: '2025-01-01T00:00:01.000Z',
      endedAt: null,
      heartbeatDue: '2025-01-01T00:00:12.000Z',
      lastHeartbeatAt: '2025-01-01T00:00:02.000Z',
      progress: { percent: 10 },
      timerLatenessMs: null,
      retryable: true,
    });
    expect(run).toMatchObject({ failureReason: null, exhausted: false });
    expect(Value.Check(Run, run)).toBe(true);
    const summary = toRunSummary(h.snapshot);
    expect(summary).toMatchObject({
      state: 'awaitingCallback',
      nextDueAt: '2025-01-01T00:00:12.000Z',
      lastMessage: 'Triggered; waiting for the callback.',
    });
    expect(Value.Check(RunSummary, summary)).toBe(true);
  });

  it('retrying run: nextDue is retryDue', () => {
    const h = Host.create(config, { runId: 'run_v' });
    h.send({ type: 'run.start', at: T0 });
    h.send({ type: 'trigger.failed', attemptId: h.idOf(1), message: 'HTTP 502', at: T0 + sec(1) });
    expect(nextDueOf(h.snapshot)).toBe(T0 + sec(2));
    expect(toRun(h.snapshot)).toMatchObject({ state: 'retrying', retryDue: '2025-01-01T00:00:02.000Z', nextDueAt: '2025-01-01T00:00:02.000Z' });
    expect(toRunSummary(h.snapshot).lastMessage).toBe('Trigger failed: HTTP 502');
  });

  it('finished runs have no next due, a status and a finish time; exhausted only when attempts ran out', () => {
    const ok = Host.create(config);
    ok.send({ type: 'run.start', at: T0 });
    ok.send({ type: 'callback.received', attemptId: ok.idOf(1), success: true, output: [1, 2], at: T0 + sec(3) });
    expect(nextDueOf(ok.snapshot)).toBeNull();
    expect(toRun(ok.snapshot)).toMatchObject({ status: 'succeeded', finishedAt: '2025-01-01T00:00:03.000Z' });
    expect(toRun(ok.snapshot).attempts[0]?.output).toEqual([1, 2]);
    expect(toRunSummary(ok.snapshot).exhausted).toBe(false);

    const exhausted = Host.create(config);
    exhausted.send({ type: 'run.start', at: T0 });
    exhausted.advanceTo(T0 + sec(1000));
    expect(toRunSummary(exhausted.snapshot)).toMatchObject({ status: 'failed', state: 'failed', attempt: 2, exhausted: true });

    const notRetryable = Host.create(config);
    notRetryable.send({ type: 'run.start', at: T0 });
    notRetryable.send({ type: 'callback.received', attemptId: notRetryable.idOf(1), success: false, retryable: false, at: T0 + 1 });
    expect(toRunSummary(notRetryable.snapshot)).toMatchObject({ status: 'failed', exhausted: false });

    const cancelled = Host.create(config);
    cancelled.send({ type: 'run.cancel', at: T0 + 1 });
    expect(toRunSummary(cancelled.snapshot)).toMatchObject({
      status: 'cancelled',
      state: 'cancelled',
      lastMessage: 'Cancelled before the first attempt: no reason given',
    });

    for (const s of [ok.snapshot, exhausted.snapshot, notRetryable.snapshot, cancelled.snapshot]) {
      expect(Value.Check(Run, toRun(s))).toBe(true);
      expect(Value.Check(RunSummary, toRunSummary(s))).toBe(true);
    }
  });

  it('a restored (persisted, JSON round-tripped) snapshot projects identically', () => {
    const h = Host.create(config);
    h.send({ type: 'run.start', at: T0 });
    h.send({ type: 'trigger.succeeded', attemptId: h.idOf(1), at: T0 + 5 });
    expect(toRun(roundTrip(h.snapshot))).toEqual(toRun(h.snapshot));
    // The plain persisted JSON (value/status/context) is enough for the projections.
    const persisted = JSON.parse(JSON.stringify(h.snapshot)) as Parameters<typeof toRun>[0];
    expect(toRunSummary(persisted)).toEqual(toRunSummary(h.snapshot));
  });

  it('toWireAttempt omits progress/output when absent and matches the Attempt schema', () => {
    const h = Host.create(config);
    h.send({ type: 'run.start', at: T0 });
    const wire = toWireAttempt(h.attempt!, { callbackUrl: null, heartbeatUrl: null });
    expect(wire).not.toHaveProperty('progress');
    expect(wire).not.toHaveProperty('output');
    expect(Value.Check(Attempt, wire)).toBe(true);
  });
});
