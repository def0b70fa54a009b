/**
 * SIGKILL a real child engine again and again in the middle of a burst of commits (creates, triggers, callbacks,
 * retries all at once). After every kill a fresh child recovers the same data dir and the burst goes on. The store's
 * dirty budget is tiny, so write-backs (journal → run files, then old segments deleted) run all through the burst and
 * the kills land before, during and after them; one child kills itself inside a write-back, after some run files were
 * renamed into place and before the old segments were deleted. Then: no acknowledged run is lost, no acknowledged
 * event is missing, no transition was applied twice, attempt counts stay within 1 + retryLimit, every run file is
 * whole (no torn write) and every run replays to its stored snapshot.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { attemptIdFor, type CallbackPayload } from '@tether/machine';
import { config, tempDir } from './helpers/engine.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ChildEngine, killAllChildren } from './helpers/child-harness.ts';
import { prng, within } from './helpers/async.ts';
import { expectContiguousLog, expectReplayEqualsSnapshot } from './helpers/replay-check.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { checkDoc } from '../src/store/journal-files.ts';
import type { ChildStoreOptions } from './helpers/child-protocol.ts';
import type { CallbackOutcome } from '../src/engine/engine.ts';

const RETRY_LIMIT = 2;
const KILLS = 5;
const RUNS = 50;
const PER_ROUND = 15;
/** A few run documents' worth: write-backs run again and again during every round. */
const STORE: ChildStoreOptions = { dirtyBudgetBytes: 16 * 1024, writeBackBatch: 2 };
/** The round whose child kills itself inside a write-back (after its second batch of run files) instead of being killed. */
const SELF_KILL_ROUND = 2;

const verdictOf: Record<CallbackOutcome['result'], string> = {
  accepted: 'applied',
  duplicate: 'duplicate',
  conflict: 'conflict',
  late: 'late',
  not_found: 'not_found',
  invalid: 'invalid',
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
      config({
        name: `burst ${i}`,
        target: { url: ext.url },
        timeoutSeconds: 60,
        retryLimit: RETRY_LIMIT,
        backoff: { initialSeconds: 0.02, multiplier: 1 },
      });

    let spare = ChildEngine.spawn();
    const children: ChildEngine[] = [];
    let diedInWriteBack = false;
    let kills = 0;
    let starts = 0;
    let interrupted = 0;
    let created = 0;
    // KILLS rounds killed mid-burst, then one last round that tops the acknowledged runs up to RUNS.
    for (let round = 0; round <= KILLS; round++) {
      const killNow = round < KILLS;
      const child = await spare;
      children.push(child);
      if (killNow) spare = ChildEngine.spawn(); // load the next one while this one works
      const selfKill = round === SELF_KILL_ROUND;
      await child.start(tmp.dir, undefined, selfKill ? { ...STORE, dieAfterRunFileBatches: 2 } : STORE);
      starts++;
      // What the last crash left in the journal goes to the run files first (the old segments are then deleted), so
      // this round's kill lands after a whole write-back, and likely inside the next (the budget sets them off).
      if (killNow && !selfKill) await child.request({ op: 'writeBack' });

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

      if (selfKill) {
        // This one dies by itself, in the middle of the write-back its commits set off, with the burst still going.
        const { signal } = await within(child.exited, 20_000, 'the child to die inside a write-back');
        expect(signal).toBe('SIGKILL');
        diedInWriteBack = true;
        kills++;
        interrupted += (await Promise.allSettled(jobs)).filter((r) => r.status === 'rejected').length;
      } else if (killNow) {
        // Kill after a few acknowledgements, with the rest of the burst still committing.
        const after = 2 + Math.floor(rand() * 8);
        let acks = 0;
        await new Promise<void>((resolve) => {
          for (const j of jobs)
            j.then(
              () => ++acks === after && resolve(),
              () => {},
            );
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
    expect(diedInWriteBack).toBe(true);
    const writeBacks = children.flatMap((c) => c.writeBacks);
    expect(writeBacks.filter((w) => w.ok).length, 'write-backs completed between the kills').toBeGreaterThanOrEqual(KILLS - 1);
    expect(writeBacks.filter((w) => !w.ok)).toEqual([]);

    // Every run file the write-backs left is whole: written to a temp file and renamed, never torn.
    const runFiles = (await readdir(join(tmp.dir, 'runs'))).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
    expect(runFiles.length).toBeGreaterThan(0);
    for (const f of runFiles) {
      const file = join(tmp.dir, 'runs', f);
      checkDoc(JSON.parse(await readFile(file, 'utf8')), file, f.slice(0, -'.json'.length));
    }

    // Open the data dir as the next start would.
    const store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load();
    expect(loaded.damaged ?? [], 'no run file is torn or missing').toEqual([]);
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
      console.log({
        kills,
        starts,
        interrupted,
        writeBacks: writeBacks.length,
        ackedRuns: acked.runs.size,
        runs: ids.size,
        ackedCallbacks: acked.callbacks.length,
        applied,
      });
    await store.close();
  });
});
