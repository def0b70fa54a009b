/**
 * Properties over random host histories (see model.ts): persistence, replay, bounds, absorption, timer bookkeeping,
 * and the retry-delay laws.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import Value from 'typebox/value';
import { Run, RunSummary, attemptDueAt, leafState, retryDelay, toRun, toRunSummary, type RunConfig } from '../src/index.ts';
import { Host, TIMER, replay, type HostEvent } from './drive.ts';
import { historyArb, perform, performLike } from './model.ts';

const NUM_RUNS = 200;
const history = historyArb(40);

const comparable = (h: Host) => ({
  value: h.snapshot.value,
  status: h.snapshot.status,
  context: h.snapshot.context,
  timers: [...h.timers.values()].sort((a, b) => a.id.localeCompare(b.id)),
  effects: JSON.parse(JSON.stringify(h.lastEffects)) as unknown,
  accepted: h.lastAccepted,
  triggers: h.triggers,
});

/** Everything a host can learn from a snapshot and its timer table must agree. */
function checkInvariants(h: Host, config: RunConfig) {
  const c = h.context;
  const leaf = leafState(h.value);
  const last = c.attempts.at(-1);
  // (3) attempts never exceed 1 + retryLimit
  expect(c.attempts.length).toBeLessThanOrEqual(1 + config.retryLimit);
  // Ids and numbers are deterministic; only the last attempt can be open.
  c.attempts.forEach((a, i) => {
    expect(a.number).toBe(i + 1);
    expect(a.id).toBe(h.idOf(i + 1));
    if (i < c.attempts.length - 1) expect(a.endedAt).not.toBeNull();
    if (a.timerLatenessMs !== null) expect(a.timerLatenessMs).toBeGreaterThanOrEqual(0);
    expect(a.isSuccess).toBe(a.state === 'CallbackSuccess');
    // The deadline: no attempt waits past it, and no retry starts at or after it.
    if (c.deadlineAt !== null) {
      expect(a.timeoutDue).toBeLessThanOrEqual(Math.max(c.deadlineAt, a.started));
      if (a.number > 1) expect(a.started).toBeLessThan(c.deadlineAt);
    }
  });
  // One trigger effect per attempt, in order.
  expect(h.triggers).toEqual(c.attempts.map((a) => ({ attemptId: a.id, number: a.number })));
  const rows = [...h.timers.values()];
  switch (leaf) {
    case 'idle':
      expect(c.attempts).toEqual([]);
      expect(rows).toEqual([]);
      break;
    case 'triggering':
    case 'awaitingCallback':
      expect(last?.state).toBe(leaf === 'triggering' ? 'Triggering' : 'AwaitingCallback');
      expect(last?.endedAt).toBeNull();
      // The one armed timer fires exactly when the attempt is due (or at once if it opened already past due).
      expect(rows).toEqual([{ id: TIMER[leaf], eventType: TIMER[leaf], dueAt: Math.max(attemptDueAt(c), last!.started) }]);
      expect(c.retryDue).toBeNull();
      break;
    case 'retrying':
      expect(last?.endedAt).not.toBeNull();
      expect(last?.retryable).toBe(true);
      expect(rows).toEqual([{ id: TIMER.retrying, eventType: TIMER.retrying, dueAt: c.retryDue }]);
      expect(c.attempts.length).toBeLessThan(1 + config.retryLimit);
      if (c.deadlineAt !== null) expect(c.retryDue!).toBeLessThan(c.deadlineAt);
      break;
    case 'succeeded':
    case 'failed':
    case 'cancelled':
      expect(h.snapshot.status).toBe('done');
      expect(rows).toEqual([]);
      expect(c.finishedAt).not.toBeNull();
      expect(c.retryDue).toBeNull();
      if (leaf === 'succeeded') expect(last?.state).toBe('CallbackSuccess');
      if (leaf === 'failed') expect(c.failureReason).not.toBeNull();
      if (leaf === 'cancelled') expect(c.attempts.some((a) => a.state === 'Triggering' || a.state === 'AwaitingCallback')).toBe(false);
      break;
    default:
      throw new Error(`a snapshot rested in ${String(leaf)}`);
  }
  if (h.snapshot.status === 'active') expect(c.finishedAt).toBeNull();
}

/** A refused event (can() false) left snapshot, timers and effects untouched. */
function checkRefusalChangedNothing(h: Host) {
  if (h.lastAccepted || !h.beforeLast) return;
  expect(h.snapshot.value).toEqual(h.beforeLast.snapshot.value);
  expect(h.snapshot.context).toEqual(h.beforeLast.snapshot.context);
  expect(h.snapshot.status).toBe(h.beforeLast.snapshot.status);
  expect(h.lastEffects).toEqual([]);
  expect([...h.timers.values()]).toEqual(h.beforeLast.timers);
}

/** One of each event kind, for the current, previous and next attempt, at `at`. */
function everyEvent(h: Host, at: number): HostEvent[] {
  const n = h.attempt?.number ?? 1;
  const ids = [h.idOf(n), h.idOf(Math.max(1, n - 1)), h.idOf(n + 1)];
  return [
    { type: 'run.start', at },
    { type: 'run.cancel', reason: 'again', at },
    { type: 'run.retryNow', at },
    ...Object.values(TIMER).map((type) => ({ type, at })),
    ...ids.flatMap((attemptId): HostEvent[] => [
      { type: 'trigger.succeeded', attemptId, at },
      { type: 'trigger.failed', attemptId, message: 'x', at },
      { type: 'callback.received', attemptId, success: true, at },
      { type: 'callback.received', attemptId, success: false, retryable: false, at },
      { type: 'heartbeat.received', attemptId, progress: 1, at },
      { type: 'attempt.forceTimeout', attemptId, at },
    ]),
  ];
}

describe('properties of random histories', () => {
  it('(1) JSON round-tripping the snapshot after every event changes nothing in later behaviour', () => {
    fc.assert(
      fc.property(history, ([config, steps]) => {
        const live = Host.create(config, { runId: 'run_prop' });
        const persisted = Host.create(config, { runId: 'run_prop', persistEachStep: true });
        for (const step of steps) {
          const done = perform(live, step);
          const again = performLike(persisted, step, done);
          expect(again.fired).toEqual(done.fired);
          expect(comparable(persisted)).toEqual(comparable(live));
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('(2) replaying the recorded events from the input reproduces the snapshot exactly', () => {
    fc.assert(
      fc.property(history, ([config, steps]) => {
        const h = Host.create(config, { runId: 'run_prop' });
        for (const step of steps) perform(h, step);
        const exact = { value: h.snapshot.value, status: h.snapshot.status, context: h.snapshot.context };
        const replayed = replay(h.input, h.log);
        expect({ value: replayed.value, status: replayed.status, context: replayed.context }).toEqual(exact);
        // Refused events change nothing, so the log of applied events alone replays to the same snapshot…
        const fromApplied = replay(h.input, h.applied);
        expect({ value: fromApplied.value, status: fromApplied.status, context: fromApplied.context }).toEqual(exact);
        // …and so does that log after a trip through JSON (what lands on disk).
        const disk = JSON.parse(JSON.stringify({ input: h.input, log: h.applied })) as { input: Host['input']; log: HostEvent[] };
        const fromDisk = replay(disk.input, disk.log);
        expect({ value: fromDisk.value, status: fromDisk.status, context: fromDisk.context }).toEqual(exact);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('(3) attempts never exceed 1 + retryLimit; snapshot, timers and effects always agree; refusals change nothing', () => {
    fc.assert(
      fc.property(history, ([config, steps]) => {
        const h = Host.create(config, { runId: 'run_prop' });
        checkInvariants(h, config);
        for (const step of steps) {
          perform(h, step);
          checkInvariants(h, config);
          checkRefusalChangedNothing(h);
        }
        expect(Value.Check(Run, toRun(h.snapshot))).toBe(true);
        expect(Value.Check(RunSummary, toRunSummary(h.snapshot))).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('(4) final states absorb every event: can() is false and the snapshot is unchanged', () => {
    // Histories biased towards finishing: plenty of time passes.
    const finishing = historyArb(30);
    let finals = 0;
    fc.assert(
      fc.property(finishing, ([config, steps]) => {
        const h = Host.create(config, { runId: 'run_prop' });
        for (const step of steps) perform(h, step);
        h.advanceTo(h.now + 10_000_000); // whatever was still running times out and exhausts its retries
        if (h.context.attempts.length === 0) h.send({ type: 'run.cancel', at: h.now });
        expect(h.snapshot.status).toBe('done');
        finals++;
        const final = h.snapshot;
        for (const event of everyEvent(h, h.now + 1)) {
          expect(final.can(event as never), event.type).toBe(false);
          h.send(event);
          expect(h.snapshot.value).toEqual(final.value);
          expect(h.snapshot.context).toEqual(final.context);
          expect(h.lastEffects).toEqual([]);
          expect(h.timers.size).toBe(0);
        }
      }),
      { numRuns: NUM_RUNS },
    );
    expect(finals).toBe(NUM_RUNS);
  });
});

describe('retry delay laws', () => {
  const backoffArb = fc.record({
    initialSeconds: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1000, noNaN: true })),
    multiplier: fc.oneof(fc.constant(1), fc.constant(100), fc.double({ min: 1, max: 100, noNaN: true })),
    maxSeconds: fc.double({ min: 0, max: 31_536_000, noNaN: true }),
  });
  const valid = backoffArb.filter((b) => b.maxSeconds >= b.initialSeconds);

  it('(5a) every delay is within [0, maxSeconds], with any jitter', () => {
    fc.assert(
      fc.property(
        valid,
        fc.constantFrom('none' as const, 'full' as const, 'equal' as const),
        fc.integer({ min: 1, max: 1001 }),
        fc.string(),
        (b, jitter, n, seed) => {
          const d = retryDelay({ ...b, jitter }, n, seed);
          expect(Number.isFinite(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(b.maxSeconds);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('(5b) without jitter delays are non-decreasing in the attempt number', () => {
    fc.assert(
      fc.property(valid, fc.integer({ min: 1, max: 1000 }), (b, n) => {
        const now = retryDelay({ ...b, jitter: 'none' }, n, 'run_x');
        const next = retryDelay({ ...b, jitter: 'none' }, n + 1, 'run_x');
        expect(next).toBeGreaterThanOrEqual(now);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('(5c) without jitter the first delay is initialSeconds (capped), and a zero initial delay stays zero', () => {
    fc.assert(
      fc.property(valid, fc.integer({ min: 1, max: 1001 }), (b, n) => {
        expect(retryDelay({ ...b, jitter: 'none' }, 1, 'run_x')).toBe(Math.min(b.initialSeconds, b.maxSeconds));
        expect(retryDelay({ ...b, initialSeconds: 0, jitter: 'none' }, n, 'run_x')).toBe(0);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('(5d) without jitter the seed does not matter; with jitter the same seed gives the same delay', () => {
    fc.assert(
      fc.property(valid, fc.integer({ min: 1, max: 50 }), fc.string(), fc.string(), (b, n, s1, s2) => {
        expect(retryDelay({ ...b, jitter: 'none' }, n, s1)).toBe(retryDelay({ ...b, jitter: 'none' }, n, s2));
        expect(retryDelay({ ...b, jitter: 'full' }, n, s1)).toBe(retryDelay({ ...b, jitter: 'full' }, n, s1));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
