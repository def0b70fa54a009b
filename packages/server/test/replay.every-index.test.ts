/**
 * Issue 7: replaying a run's log up to any event index reproduces the snapshot the server committed at that point —
 * what the dashboard's time travel relies on. Every commit is recorded as it happened (RecordingStore).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { replayRun } from '../src/engine/replay.ts';
import { harness, type Harness } from './helpers/engine-harness.ts';
import { config } from './helpers/engine.ts';

describe('replay at every event index equals the committed snapshot', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('through the seed scenario, a heartbeat run and rejected callbacks', async () => {
    h = await harness();
    const seed = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 30, retryLimit: 2 }));
    const beats = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 60, retryLimit: 1, heartbeatTimeoutSeconds: 5 }));
    await h.ext.waitFor(2);
    await h.engine.idle();
    // Three in a row: one log entry (repeats 3), the last progress kept.
    await h.engine.heartbeat(beats.id, beats.attempts[0]!.id, { percent: 5 });
    h.clock.advance(1_000);
    await h.engine.heartbeat(beats.id, beats.attempts[0]!.id, undefined);
    h.clock.advance(1_000);
    await h.engine.heartbeat(beats.id, beats.attempts[0]!.id, { percent: 10 });
    const folded = (await h.engine.getDoc(beats.id))!.events.filter((e) => e.type === 'heartbeat.received');
    expect(folded).toHaveLength(1);
    expect(folded[0]).toMatchObject({ repeats: 3, verdict: 'applied', event: { progress: { percent: 10 } } });
    h.clock.advance(30_000); // seed attempt 1 times out; the heartbeat run misses its next beat
    await h.engine.idle();
    h.clock.advance(2_000); // backoffs end: both open attempt 2
    await h.ext.waitFor(4);
    await h.engine.idle();
    const seedDoc = (await h.engine.getDoc(seed.id))!;
    const att2 = seedDoc.snapshot.context.attempts[1]!.id;
    expect((await h.engine.callback(seed.id, att2, { success: true, message: 'done' })).result).toBe('accepted');
    expect((await h.engine.callback(seed.id, att2, { success: true, message: 'done' })).result).toBe('duplicate');
    expect((await h.engine.callback(seed.id, seed.attempts[0]!.id, { success: true })).result).toBe('late');
    await h.engine.dispatch(beats.id, { type: 'run.cancel', reason: 'enough', at: h.clock.now() }, { source: 'api' });
    await h.engine.idle();

    for (const run of [seed, beats]) {
      const commits = h.store.commitsOf(run.id);
      const final = commits[commits.length - 1]!;
      expect(commits.length).toBeGreaterThan(5);
      let superseded = 0;
      for (const committed of commits) {
        const last = committed.events[committed.events.length - 1]!;
        // From the log as it was then, and from the final log cut at that index: both equal what was committed —
        // except where a later heartbeat took over that entry (folded, same seq): the final log no longer holds the
        // earlier one, and its cut equals the commit that wrote the entry as it stands.
        expect(replayRun(committed)).toEqual(committed.snapshot);
        if (JSON.stringify(final.events[last.seq]) !== JSON.stringify(last)) {
          superseded++;
          expect(last.type).toBe('heartbeat.received');
          continue;
        }
        expect(replayRun(final, last.seq), `${run.id} at seq ${last.seq}`).toEqual(committed.snapshot);
      }
      expect(superseded, 'only the heartbeat run has folded heartbeats').toBe(run === beats ? 2 : 0);
    }
  });
});
