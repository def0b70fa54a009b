import { describe, expect, it } from 'vitest';
import { leafState, toRun } from '@tether/machine';
import { allFixtures, fixtures } from '../test/fixtures.ts';
import { activeStateIds, contextFromRun, replayRun, snapshotFromRun, stateValueOf } from './run-snapshot.ts';

const withoutUrls = (run: ReturnType<typeof toRun>) => ({
  ...run,
  attempts: run.attempts.map((a) => ({ ...a, callbackUrl: null, heartbeatUrl: null })),
});

describe('hydrating a wire Run into the shared machine', () => {
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
