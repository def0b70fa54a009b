/**
 * A run cannot make the server commit as fast as it can: however the run is configured (backoff 0, full jitter, a 1 ms
 * timeout) and whatever its target does (fail every trigger at once), attempts start at least MIN_ATTEMPT_PERIOD_MS
 * apart, so its commits per second are bounded. Real server, real target on loopback, a ManualClock moved in small steps
 * so that every timer fires as soon as it falls due; the commits are counted at the real store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIN_ATTEMPT_PERIOD_MS, type RunConfig } from '@tether/machine';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { RecordingStore } from './helpers/recording-store.ts';
import { startServer, type TestServer } from './helpers/http-app.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';

let ext: FakeExternalSystem;
let clock: ManualClock;
let store: RecordingStore;
let s: TestServer;

beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
  clock = new ManualClock();
  s = await startServer({ clock, store: (dir) => (store = new RecordingStore(new LowdbRunStore({ dir }))) });
});
afterEach(async () => {
  await s.close();
  await ext.close();
});

/** Attempts that can start within one second (both ends included), and the engine-driven commits each can cost. */
const MAX_ATTEMPTS_PER_SECOND = 1 + 1000 / MIN_ATTEMPT_PERIOD_MS;
/** Opening the attempt (with its trigger in the outbox), the trigger's outcome, the attempt's timeout. */
const MAX_COMMITS_PER_ATTEMPT = 3;

describe('attempt rate', () => {
  it.each<[string, { status: number }, Partial<RunConfig>]>([
    ['a target failing every trigger at once, backoff 0', { status: 500 }, { timeoutSeconds: 60, backoff: { initialSeconds: 0 } }],
    [
      'a 1 ms timeout with full jitter (delays near 0)',
      { status: 202 },
      { timeoutSeconds: 0.001, backoff: { initialSeconds: 0.05, multiplier: 1, jitter: 'full' } },
    ],
  ])('%s: at most 1 + 1000 / MIN_ATTEMPT_PERIOD_MS attempts and 3 commits each per virtual second', async (_what, answer, cfg) => {
    ext.respond = () => ({ status: answer.status, body: answer.status === 500 ? 'down' : '{}' });
    const run = await s.createRun({ target: { url: ext.url }, retryLimit: 1000, ...cfg });
    await s.idle();
    const start = clock.now();
    // One virtual second in 5 ms steps: each step fires what fell due, and waits for its commits and triggers.
    for (let t = 0; t < 1000; t += 5) await s.advance(5);

    const attempts = (await s.run(run.id)).attempts;
    const starts = attempts.map((a) => Date.parse(a.started) - start);
    expect(starts.every((t) => t <= 1000)).toBe(true);
    expect(attempts).toHaveLength(MAX_ATTEMPTS_PER_SECOND);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(MIN_ATTEMPT_PERIOD_MS);
    const commits = store.commitsOf(run.id).length;
    expect(commits).toBeLessThanOrEqual(MAX_ATTEMPTS_PER_SECOND * MAX_COMMITS_PER_ATTEMPT);
    expect(commits).toBeGreaterThanOrEqual(2 * MAX_ATTEMPTS_PER_SECOND - 1); // it did cycle: open + outcome per attempt
    expect(ext.received).toHaveLength(MAX_ATTEMPTS_PER_SECOND);
  });
});
