/**
 * The engine keeps a waiting run as its summary and its armed timers; documents are read back from disk inside the
 * run's mailbox (a bounded cache holds the recently used ones). With no cache at all, every event reads its run from
 * disk: the same flows must give the same results, replay included, and a commit that failed after its file landed
 * must still not count.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptIdFor, type RunSummary } from '@tether/machine';
import { Engine } from '../src/engine/engine.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { FileRunStore } from '../src/store/file-run-store.ts';
import type { CommitOptions, LoadedStore, RunDoc, RunFiles } from '../src/store/types.ts';
import { config, tempDir, testSigner } from './helpers/engine.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { expectContiguousLog, expectEveryRunReplays } from './helpers/replay-check.ts';

/** The real store; while `failAfterWrite` is set, a commit writes its run file and then fails (an index append that broke). */
class AfterWriteFailingStore implements RunFiles {
  failAfterWrite = false;
  reads = 0;
  constructor(readonly inner: LowdbRunStore) {}
  get dir() {
    return this.inner.dir;
  }
  load(): Promise<LoadedStore> {
    return this.inner.load();
  }
  async commit(doc: RunDoc, summary: RunSummary, opts?: CommitOptions): Promise<void> {
    await this.inner.commit(doc, summary, opts);
    if (this.failAfterWrite) throw Object.assign(new Error('ENOSPC: no space left on device (simulated, after the file)'), { code: 'ENOSPC' });
  }
  remove(runId: string): Promise<void> {
    return this.inner.remove(runId);
  }

  read(runId: string): Promise<RunDoc | null> {
    this.reads++;
    return this.inner.read(runId);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('engine without a document cache: every event reads its run from disk', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let ext: FakeExternalSystem;
  let clock: ManualClock;
  let store: AfterWriteFailingStore;
  let engine: Engine;
  beforeEach(async () => {
    tmp = await tempDir('tether-nocache-');
    ext = await new FakeExternalSystem().start();
    clock = new ManualClock();
    store = new AfterWriteFailingStore(new LowdbRunStore({ dir: tmp.dir }));
    engine = await Engine.start({ store: new FileRunStore(store), signer: testSigner(), clock, docCacheSize: 0 });
  });
  afterEach(async () => {
    await expectEveryRunReplays(engine);
    await engine.stop();
    await ext.close();
    await tmp.cleanup();
  });

  it('runs the seed scenario (timeout, retry, success) with the same outcome, reading documents from disk', async () => {
    const run = await engine.createRun(
      config({ target: { url: ext.url }, timeoutSeconds: 5, retryLimit: 2, backoff: { initialSeconds: 1 }, heartbeatTimeoutSeconds: 10 }),
    );
    await ext.waitFor(1);
    await engine.idle();
    const readsBefore = store.reads;
    expect((await engine.heartbeat(run.id, attemptIdFor(run.id, 1), { percent: 10 })).result).toBe('accepted');
    expect(store.reads).toBeGreaterThan(readsBefore); // not kept in memory
    clock.advance(5_000); // attempt 1 times out
    await engine.idle();
    clock.advance(1_000); // backoff over
    await ext.waitFor(2);
    await engine.idle();
    expect((await engine.callback(run.id, attemptIdFor(run.id, 2), { success: true, message: 'done' })).result).toBe('accepted');
    const r = (await engine.getRun(run.id))!;
    expect(r.status).toBe('succeeded');
    expect(r.attempts.map((a) => a.state)).toEqual(['TimedOut', 'CallbackSuccess']);
    expect(engine.activeCount).toBe(0);
    expect(engine.timerCount).toBe(0);
    expectContiguousLog((await engine.getDoc(run.id))!);
  });

  it('a commit that failed after its file landed does not count: the retried callback is applied once', async () => {
    const run = await engine.createRun(config({ target: { url: ext.url } }));
    await ext.waitFor(1);
    await engine.idle();
    const attemptId = attemptIdFor(run.id, 1);
    store.failAfterWrite = true;
    await expect(engine.callback(run.id, attemptId, { success: true, message: 'done' })).rejects.toThrow(/Could not commit/);
    store.failAfterWrite = false;
    // The disk holds the unacknowledged callback; the engine starts from the acknowledged document instead.
    expect((await engine.callback(run.id, attemptId, { success: true, message: 'done' })).result).toBe('accepted');
    const doc = (await engine.getDoc(run.id))!;
    expect(doc.events.filter((e) => e.type === 'callback.received' && e.verdict === 'applied')).toHaveLength(1);
    expect(doc.snapshot.value).toBe('succeeded');
    expectContiguousLog(doc);
  });

  it('many runs, each with its own events, interleaved: every log contiguous, every run replays', async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => engine.createRun(config({ target: { url: ext.url }, name: `r${i}` }))));
    await ext.waitFor(20);
    await engine.idle();
    await Promise.all(
      runs.flatMap((r, i) => [
        engine.heartbeat(r.id, attemptIdFor(r.id, 1), { i }),
        engine.heartbeat(r.id, attemptIdFor(r.id, 1), { i: i + 1 }),
        engine.callback(r.id, attemptIdFor(r.id, 1), { success: i % 2 === 0 }),
      ]),
    );
    await engine.idle();
    for (const r of runs) {
      const doc = (await engine.getDoc(r.id))!;
      // Both heartbeats applied, folded into one entry (consecutive, same attempt).
      expect(doc.events.filter((e) => e.type === 'heartbeat.received' && e.verdict === 'applied').map((e) => e.repeats)).toEqual([2]);
      expectContiguousLog(doc);
    }
  });
});
