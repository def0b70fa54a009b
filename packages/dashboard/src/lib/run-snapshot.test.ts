import { describe, expect, it } from 'vitest';
import { leafState, toRun } from '@tether/machine';
import { allFixtures, fixtures, serverFixtures } from '../test/fixtures.ts';
import { activeStateIds, contextFromRun, liveSnapshot, nextSteps, replayRun, snapshotFromRun, stateValueOf } from './run-snapshot.ts';

const withoutUrls = (run: ReturnType<typeof toRun>) => ({
  ...run,
  attempts: run.attempts.map((a) => ({ ...a, callbackUrl: null, heartbeatUrl: null })),
});

describe('hydrating a wire Run into the shared machine (the fallback of the live snapshot)', () => {
  it('maps a leaf state to its state value and its active ancestors', () => {
    expect(stateValueOf('awaitingCallback')).toEqual({ attempt: 'awaitingCallback' });
    expect(stateValueOf('retrying')).toBe('retrying');
    expect(activeStateIds('triggering')).toEqual(['triggering', 'attempt']);
    expect(() => stateValueOf('nope')).toThrow(/Unknown state/);
  });

  it.each(allFixtures.map((f) => [f.name, f] as const))('%s: the hydrated snapshot projects back to the same Run', (_n, f) => {
    const snap = snapshotFromRun(f.run);
    expect(leafState(snap.value)).toBe(f.run.state);
    expect(snap.status).toBe(f.run.status === 'running' ? 'active' : 'done');
    expect(toRun(snap, { rerunOf: f.run.rerunOf })).toEqual(withoutUrls(f.run));
  });

  it('rebuilds the context the machine keeps (times in epoch ms)', () => {
    const c = contextFromRun(fixtures.backoff.run);
    expect(c.retryDue).toBe(Date.parse(fixtures.backoff.run.retryDue!));
    expect(c.attempts.map((a) => a.state)).toEqual(['TriggerFailed', 'TimedOut']);
    expect(c.config.backoff).toEqual({ initialSeconds: 30, multiplier: 2, maxSeconds: 300, jitter: 'none' });
  });
});

describe('hydrating why a run failed and whether an attempt may be retried', () => {
  it('carries failureReason and each attempt’s retryable flag into the machine’s context', () => {
    const c = contextFromRun(fixtures.notRetryable.run);
    expect(c.failureReason).toBe('notRetryable');
    expect(c.attempts.map((a) => a.retryable)).toEqual([false]);
    expect(contextFromRun(fixtures.exhausted.run).failureReason).toBe('exhausted');
    expect(contextFromRun(fixtures.seed.run).failureReason).toBeNull();
  });

  it.each(serverFixtures.map((f) => [f.name, f] as const))('%s: the hydrated context agrees with the wire', (_n, f) => {
    const c = contextFromRun(f.run);
    expect(c.failureReason).toBe(f.run.failureReason);
    expect(c.attempts.map((a) => a.retryable)).toEqual(f.run.attempts.map((a) => a.retryable));
  });

  it('a live attempt refused as non-retryable would fail the run, not retry it, when it times out', () => {
    // Only the hydrated retryable flag tells the machine this: the attempt is still waiting.
    const { run, now } = fixtures.overdue;
    const refused = { ...run, attempts: run.attempts.map((a) => ({ ...a, retryable: false })) };
    const timer = (r: typeof run) => nextSteps(snapshotFromRun(r), now).steps.find((s) => s.kind === 'timer')!;
    expect(timer(run).path).toEqual(['timedOut', 'retrying']);
    expect(timer(refused).path).toEqual(['timedOut', 'failed']);
    expect(timer(refused).resultSentence).toMatch(/not retryable/);
  });
});

describe('replaying the event log (ground for time travel)', () => {
  it.each(allFixtures.map((f) => [f.name, f] as const))('%s: replaying every applied entry gives the stored run', (_n, f) => {
    expect(toRun(replayRun(f.run, f.events), { rerunOf: f.run.rerunOf })).toEqual(withoutUrls(f.run));
  });

  it('each prefix of the log matches the state the server recorded after that entry', () => {
    for (const f of allFixtures) {
      for (const e of f.events) {
        if (e.stateAfter === undefined) continue;
        expect(leafState(replayRun(f.run, f.events, e.seq).value), `${f.name} #${e.seq}`).toBe(e.stateAfter);
      }
    }
  });
});

describe('the live snapshot: the run’s log replayed, not the wire run inverted', () => {
  it.each([...allFixtures, ...serverFixtures].map((f) => [f.name, f] as const))(
    '%s: is the replay, and projects to the run the server sent',
    (_n, f) => {
      const live = liveSnapshot(f.run, f.events);
      expect(live.source).toBe('replay');
      expect(live.snapshot).toEqual(replayRun(f.run, f.events));
      expect(toRun(live.snapshot, { rerunOf: f.run.rerunOf })).toEqual(withoutUrls(f.run));
    },
  );

  it('keeps what hydration cannot rebuild, such as the cancel reason', () => {
    const cancelled = liveSnapshot(fixtures.cancelled.run, fixtures.cancelled.events).snapshot.context;
    expect(cancelled.cancelReason).not.toBeNull();
    expect(contextFromRun(fixtures.cancelled.run).cancelReason).toBeNull();
  });

  it('falls back to the run itself while its log lags it (the last commit’s entries still on the way), and says why', () => {
    const f = fixtures.waiting;
    const lastApplied = f.events.filter((e) => e.verdict === 'applied').at(-1)!;
    const live = liveSnapshot(
      f.run,
      f.events.filter((e) => e !== lastApplied),
    );
    expect(live.source).toBe('hydrated');
    expect(live.source === 'hydrated' && live.why).toMatch(/does not reach the run yet/);
    expect(leafState(live.snapshot.value)).toBe(f.run.state);
  });

  it('falls back when an applied entry carries no event to replay', () => {
    const f = fixtures.seed;
    const events = f.events.map((e, i) => (i === 2 ? { ...e, event: undefined } : e));
    const live = liveSnapshot(f.run, events);
    expect(live.source === 'hydrated' && live.why).toBe(`log entry ${f.events[2]!.seq} was applied but carries no event to replay`);
  });
});
