/**
 * SIGKILL a real child engine again and again in the middle of a burst of commits (creates, triggers, callbacks,
 * retries all at once). After every kill a fresh child recovers the same data dir and the burst goes on. Then:
 * no acknowledged run is lost, no acknowledged event is missing, no transition was applied twice, attempt counts
 * stay within 1 + retryLimit, every run file is whole (no torn write) and replays to its stored snapshot.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { attemptIdFor, type CallbackPayload } from '@tether/machine';
import { config, tempDir } from './helpers/engine.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ChildEngine, killAllChildren } from './helpers/child-harness.ts';
import { prng } from './helpers/async.ts';
import { expectContiguousLog, expectReplayEqualsSnapshot } from './helpers/replay-check.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import type { CallbackOutcome } from '../src/engine/engine.ts';

const RETRY_LIMIT = 2;
const KILLS = 5;
const RUNS = 50;
const PER_ROUND = 15;

const verdictOf: Record<CallbackOutcome['result'], string> = {
  accepted: 'applied',
  duplicate: 'duplicate',
  conflict: 'conflict',
  late: 'late',
  not_found: 'not_found',
};

describe('crash (SIGKILL) repeatedly during a burst of commits', () => {
  let ext: FakeExternalSystem;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    ext = await new FakeExternalSystem().start();
    tmp = await tempDir('tether-burst-');
  });
  afterEach(async () => {
    await killAllChildren();
    await ext.close();
    await tmp.cleanup();
  });

  it(`(d) ${KILLS} kills, ${RUNS}+ acknowledged runs: nothing acknowledged is lost, nothing applied twice`, async () => {
    const rand = prng(0xdecaf);
    // Some triggers fail (→ retries, backoff timers, more commits), most succeed.
    ext.respond = (t) => (t.body.attemptId.charCodeAt(t.body.attemptId.length - 3) % 3 === 0 ? { status: 500, body: 'flaky' } : { status: 202 });
    const acked = { runs: new Set<string>(), callbacks: [] as Array<{ runId: string; attemptId: string; result: CallbackOutcome['result'] }> };
    const cfg = (i: number) =>
      config({ name: `burst ${i}`, target: { url: ext.url }, timeoutSeconds: 60, retryLimit: RETRY_LIMIT, backoff: { initialSeconds: 0.02, multiplier: 1 } });

    let spare = ChildEngine.spawn();
    let kills = 0;
    let starts = 0;
    let interrupted = 0;
    let created = 0;
    // KILLS rounds killed mid-burst, then one last round that tops the acknowledged runs up to RUNS.
    for (let round = 0; round <= KILLS; round++) {
      const killNow = round < KILLS;
      const child = await spare;
      if (killNow) spare = ChildEngine.spawn(); // load the next one while this one works
      await child.start(tmp.dir);
      starts++;

      const jobs: Promise<unknown>[] = [];
      const creates = killNow ? PER_ROUND : Math.max(PER_ROUND, RUNS - acked.runs.size);
      for (let i = 0; i < creates; i++) {
        jobs.push(child.create(cfg(created++)).then((run) => acked.runs.add(run.id)));
      }
      // Callbacks to runs acknowledged in earlier rounds: successes, retryable failures, repeats (duplicates/late).
      for (const runId of [...acked.runs].slice(-PER_ROUND)) {
        const n = 1 + Math.floor(rand() * 2);
        const payload: CallbackPayload = rand() < 0.6 ? { success: true, message: 'ok' } : { success: false, message: 'try again' };
        const attemptId = attemptIdFor(runId, n);
        for (let k = 0; k < 2; k++)
          jobs.push(child.callback(runId, attemptId, payload).then((o) => acked.callbacks.push({ runId, attemptId, result: o.result })));
      }

      if (killNow) {
        // Kill after a few acknowledgements, with the rest of the burst still committing.
        const after = 2 + Math.floor(rand() * 8);
        let acks = 0;
        await new Promise<void>((resolve) => {
          for (const j of jobs) j.then(() => ++acks === after && resolve(), () => {});
          void Promise.allSettled(jobs).then(() => resolve());
        });
        await child.kill();
        kills++;
        // The unacknowledged ones reject: that is the point.
        interrupted += (await Promise.allSettled(jobs)).filter((r) => r.status === 'rejected').length;
      } else {
        await Promise.all(jobs);
        await child.request({ op: 'idle' });
        await child.kill(); // the last one dies too: nothing is ever shut down cleanly
      }
    }
    expect(kills).toBe(KILLS);
    expect(starts).toBe(KILLS + 1);
    expect(interrupted, 'the kills landed with work in flight').toBeGreaterThan(0);
    expect(acked.runs.size).toBeGreaterThanOrEqual(RUNS);

    // Open the data dir as the next start would.
    const store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load(); // throws CorruptRunFileError on any torn run file
    const files = await readdir(join(tmp.dir, 'runs'));
    expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
    const ids = new Set(loaded.summaries.map((s) => s.id));
    for (const id of acked.runs) expect(ids.has(id), `acknowledged run ${id} exists`).toBe(true);

    let applied = 0;
    for (const id of ids) {
      const doc = (await store.read(id))!;
      expect(doc, id).not.toBeNull();
      expectContiguousLog(doc);
      expectReplayEqualsSnapshot(doc);
      const attempts = doc.snapshot.context.attempts;
      expect(attempts.length).toBeGreaterThanOrEqual(1);
      expect(attempts.length).toBeLessThanOrEqual(1 + RETRY_LIMIT);
      expect(attempts.map((a) => a.number)).toEqual(attempts.map((_, i) => i + 1));
      const ok = doc.events.filter((e) => e.verdict === 'applied');
      applied += ok.length;
      expect(ok.filter((e) => e.type === 'run.start')).toHaveLength(1);
      for (const a of attempts) {
        const of = (type: string) => ok.filter((e) => e.type === type && e.attemptId === a.id).length;
        expect(of('trigger.succeeded') + of('trigger.failed'), `one trigger outcome for ${a.id}`).toBeLessThanOrEqual(1);
        expect(of('callback.received'), `one callback applied for ${a.id}`).toBeLessThanOrEqual(1);
      }
      // A recovered run says so once per restart it lived through, never more.
      expect(doc.events.filter((e) => e.type === 'server.recovered').length).toBeLessThanOrEqual(starts - 1);
    }
    expect(applied).toBeGreaterThan(ids.size * 2);

    // Every acknowledged callback is in its run's log with the verdict that was answered.
    const need = new Map<string, number>();
    for (const c of acked.callbacks) {
      const k = `${c.runId}|${c.attemptId}|${verdictOf[c.result]}`;
      need.set(k, (need.get(k) ?? 0) + 1);
    }
    for (const [k, count] of need) {
      const [runId, attemptId, verdict] = k.split('|') as [string, string, string];
      const doc = (await store.read(runId))!;
      const found = doc.events.filter((e) => e.type === 'callback.received' && e.attemptId === attemptId && e.verdict === verdict).length;
      expect(found, `acknowledged ${k}`).toBeGreaterThanOrEqual(count);
    }
    expect(acked.callbacks.length).toBeGreaterThan(20);
    if (process.env.TETHER_TEST_VERBOSE)
      console.log({ kills, starts, interrupted, ackedRuns: acked.runs.size, runs: ids.size, ackedCallbacks: acked.callbacks.length, applied });
    await store.close();
  });
});
