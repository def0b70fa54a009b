/**
 * Write-back: the journal's newest documents are written to their run files in the background, and only then are the
 * segments that held them deleted. At every instant each acknowledged document is in a segment or in its run file —
 * checked here mid-write-back, after one, after one that failed, and for each thing that starts one (the dirty and
 * journal budgets, the interval, a clean close).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdir, readdir, readFile, rename, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LowdbRunStore, type LowdbStoreOptions } from '../src/store/lowdb-store.ts';
import { journalDir, listSegments, readDurable, segmentFile } from '../src/store/journal-files.ts';
import type { RunDoc } from '../src/store/types.ts';
import type { StoreLogger } from '../src/store/write-back-health.ts';
import { makeDoc, runIdFor, summaryOf } from './helpers/run-docs.ts';
import { tempDir } from './helpers/engine.ts';
import { deferred, turns } from './helpers/async.ts';
import { crashCopy, linesOf, segments, until } from './helpers/durable.ts';

const exists = (f: string) =>
  stat(f).then(
    () => true,
    () => false,
  );

describe('LowdbRunStore write-back', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let store: LowdbRunStore;
  const open = async (opts: Partial<LowdbStoreOptions> = {}) => {
    store = new LowdbRunStore({ dir: tmp.dir, writeBackIntervalMs: 0, ...opts });
    return store.load();
  };
  const commit = (doc: RunDoc) => store.commit(doc, summaryOf(doc));
  const runFile = (id: string) => join(tmp.dir, 'runs', `${id}.json`);
  const inRunFile = async (id: string) => JSON.parse(await readFile(runFile(id), 'utf8')) as RunDoc;
  const seqs = () => listSegments(tmp.dir);
  /** What a start from the directory as it is now (a SIGKILL at this instant) would load. */
  const loadCrashCopy = async () => {
    const crashed = await crashCopy(tmp.dir);
    try {
      const other = new LowdbRunStore({ dir: crashed.dir, writeBackIntervalMs: 0 });
      const loaded = await other.load();
      const docs = new Map<string, RunDoc | null>();
      for (const s of loaded.summaries) docs.set(s.id, await other.read(s.id));
      await other.close();
      return docs;
    } finally {
      await crashed.cleanup();
    }
  };

  beforeEach(async () => {
    tmp = await tempDir('tether-write-back-');
  });
  afterEach(async () => {
    vi.useRealTimers();
    await store?.close();
    await tmp.cleanup();
  });

  it('a commit that lands while a write-back writes run files goes to the new segment and stays dirty and durable; the old segment goes', async () => {
    await open({ writeBackBatch: 2 });
    const [a, b, c] = [1, 2, 3].map((n) => makeDoc(runIdFor(n), 'awaitingCallback')) as [RunDoc, RunDoc, RunDoc];
    for (const d of [a, b, c]) await commit(d);
    // Hold the write-back on its first batch of run files, after it has rotated the journal.
    const files = (store as unknown as { files: { writeAll: (f: unknown) => Promise<unknown> } }).files;
    const writeAll = files.writeAll.bind(files);
    const entered = deferred();
    const gate = deferred();
    let batches = 0;
    files.writeAll = async (f) => {
      if (batches++ === 0) {
        entered.resolve();
        await gate.promise;
      }
      return writeAll(f);
    };
    const writingBack = store.writeBack();
    await entered.promise;
    expect(await seqs()).toEqual([1, 2]);

    const a2 = makeDoc(a.id, 'succeeded');
    await commit(a2);
    expect(linesOf((await segments(tmp.dir))[1]!.text), 'the commit is in the new segment').toEqual([a2]);
    expect(await store.read(a.id)).toEqual(a2);
    expect(await readDurable(tmp.dir, a.id)).toEqual(a2);
    // A crash in the middle of the write-back: everything acknowledged is there, the newest of each run.
    expect(Object.fromEntries(await loadCrashCopy())).toEqual({ [a.id]: a2, [b.id]: b, [c.id]: c });

    gate.resolve();
    await writingBack;
    expect(batches, 'three runs in batches of two').toBe(2);
    // The old segment is gone; the run files hold what the write-back took (a's older document); a2 is still only in
    // the journal, which is what reads and a fresh start go by.
    expect(await seqs()).toEqual([2]);
    expect(await inRunFile(a.id)).toEqual(a);
    expect(await inRunFile(b.id)).toEqual(b);
    expect(await store.read(a.id)).toEqual(a2);
    expect(await readDurable(tmp.dir, a.id)).toEqual(a2);
    expect(Object.fromEntries(await loadCrashCopy())).toEqual({ [a.id]: a2, [b.id]: b, [c.id]: c });

    // The next write-back takes it: a2 in the run file, the segment that held it gone.
    const bBefore = await stat(runFile(b.id), { bigint: true });
    await store.writeBack();
    expect(await inRunFile(a.id)).toEqual(a2);
    expect(await seqs()).toEqual([3]);
    expect((await segments(tmp.dir))[0]!.text).toBe('');
    const bAfter = await stat(runFile(b.id), { bigint: true });
    expect([bAfter.ino, bAfter.mtimeNs], 'a clean run is not rewritten').toEqual([bBefore.ino, bBefore.mtimeNs]);
  });

  it('a write-back that cannot write a run file keeps every segment: nothing is lost, commits go on, and a later write-back catches up', async () => {
    await open();
    const [a, b] = [1, 2].map((n) => makeDoc(runIdFor(n), 'awaitingCallback')) as [RunDoc, RunDoc];
    await commit(a);
    await commit(b);
    await mkdir(runFile(b.id)); // a directory where b's run file goes: its rename fails
    await expect(store.writeBack()).rejects.toThrow(new RegExp(`write-back: 1 run file\\(s\\) not written, e\\.g\\. .*${b.id}\\.json`));
    expect(await seqs(), 'the segment that holds b stays').toEqual([1, 2]);
    expect(await inRunFile(a.id)).toEqual(a);
    expect(await readDurable(tmp.dir, b.id)).toEqual(b);
    const b2 = makeDoc(b.id, 'succeeded');
    await commit(b2);
    expect(await store.read(b.id)).toEqual(b2);
    expect(await readdir(join(tmp.dir, 'runs')).then((n) => n.filter((f) => f.includes('.tmp-')))).toEqual([]);

    // Closed while it still fails: the journal stays for the next start, and no shutdown checkpoint is trusted to it.
    await store.checkpoint([]);
    await store.close();
    expect(await exists(join(tmp.dir, 'checkpoint.json'))).toBe(false);
    expect((await seqs()).length).toBeGreaterThan(0);
    expect(await readDurable(tmp.dir, b.id)).toEqual(b2);

    await rmdir(runFile(b.id));
    const loaded = await open();
    expect(loaded.active).toEqual([a]);
    expect(await store.read(b.id)).toEqual(b2);
    await store.close();
    expect(await inRunFile(b.id)).toEqual(b2);
    expect(await readdir(journalDir(tmp.dir))).toEqual([]);
  });

  it('runs by itself once the documents waiting for it exceed dirtyBudgetBytes', async () => {
    const docs = Array.from({ length: 3 }, (_, i) => makeDoc(runIdFor(i), 'awaitingCallback'));
    const size = JSON.stringify(docs[0]).length + 1;
    await open({ dirtyBudgetBytes: Math.floor(size * 2.5) });
    await commit(docs[0]!);
    await commit(docs[1]!);
    await turns(20);
    expect(await readdir(join(tmp.dir, 'runs')), 'under budget: nothing written back').toEqual([]);
    expect(await seqs()).toEqual([1]);

    await commit(docs[2]!);
    await until(async () => (await readdir(join(tmp.dir, 'runs'))).length === 3 && (await seqs()).length === 1, 'the budget write-back');
    expect(await seqs()).toEqual([2]);
    for (const d of docs) {
      expect(await inRunFile(d.id)).toEqual(d);
      expect(await store.read(d.id)).toEqual(d);
      expect(await readDurable(tmp.dir, d.id)).toEqual(d);
    }
  });

  it('runs by itself once the journal segment exceeds journalBudgetBytes, even if one run is all that changes', async () => {
    const id = runIdFor(7);
    const versions = [Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 2), Date.UTC(2026, 0, 3)].map((at) => makeDoc(id, 'awaitingCallback', at));
    const size = JSON.stringify(versions[0]).length + 1;
    await open({ journalBudgetBytes: Math.floor(size * 2.5) });
    await commit(versions[0]!);
    await commit(versions[1]!);
    await turns(20);
    expect(await exists(runFile(id))).toBe(false);
    await commit(versions[2]!);
    await until(async () => (await exists(runFile(id))) && (await seqs()).length === 1, 'the journal-budget write-back');
    expect(await inRunFile(id)).toEqual(versions[2]);
    expect(await seqs()).toEqual([2]);
  });

  it('documents with characters of two, three and four UTF-8 bytes read back whole from the journal and land byte for byte in their run files', async () => {
    // The store keeps only where each pending record is (bytes into its segment), not its text: a character counted
    // in UTF-16 units instead of bytes anywhere would shift every later record of the segment.
    const names = ['café · naïve', 'attempt 1 → 2 ✓', 'emoji 🚀 and 𝄞 (surrogate pairs)', 'plain'];
    const docs = names.map((name, i) => {
      const d = makeDoc(runIdFor(40 + i), 'awaitingCallback');
      return { ...d, input: { ...d.input, config: { ...d.input.config, name } } } as RunDoc;
    });
    await open();
    // One group (same turn) and then one commit per turn: records side by side in one write and in separate writes.
    await Promise.all(docs.slice(0, 2).map(commit));
    for (const d of docs.slice(2)) await commit(d);
    const again = { ...docs[1]!, input: { ...docs[1]!.input, config: { ...docs[1]!.input.config, name: 'replaced → ü' } } } as RunDoc;
    await commit(again);
    const want = [docs[0]!, again, docs[2]!, docs[3]!];
    for (const d of want) expect(await store.read(d.id)).toEqual(d);

    await store.writeBack();
    expect(await seqs()).toEqual([2]);
    for (const d of want) {
      expect(await readFile(runFile(d.id), 'utf8')).toBe(JSON.stringify(d));
      expect(await store.read(d.id)).toEqual(d);
    }
    // And from a start that finds them in the journal (a crash before any write-back).
    await commit({ ...want[3]!, input: { ...want[3]!.input, config: { ...want[3]!.input.config, name: 'crash → 🚀' } } } as RunDoc);
    const crashed = await loadCrashCopy();
    expect(crashed.get(want[0]!.id)).toEqual(want[0]);
    expect((crashed.get(want[3]!.id) as RunDoc).input.config.name).toBe('crash → 🚀');
  });
  it('runs every writeBackIntervalMs while anything waits for it, and not otherwise', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    await open({ writeBackIntervalMs: 1_000 });
    const doc = makeDoc(runIdFor(1), 'awaitingCallback');
    await commit(doc);
    vi.advanceTimersByTime(999);
    await turns(20);
    expect(await exists(runFile(doc.id))).toBe(false);
    expect(await seqs()).toEqual([1]);

    vi.advanceTimersByTime(1);
    await until(async () => (await exists(runFile(doc.id))) && (await seqs()).length === 1, 'the interval write-back');
    expect(await inRunFile(doc.id)).toEqual(doc);
    expect(await seqs()).toEqual([2]);

    // Nothing waiting: the next tick does not even start a new segment.
    vi.advanceTimersByTime(1_000);
    await turns(20);
    expect(await seqs()).toEqual([2]);
  });

  // The journal thread opens the next segment before it lets go of the current one (journal-thread.ts, openSegment).
  it('a write-back whose new segment cannot be created fails alone: commits go on in the current segment', async () => {
    await open();
    const a = makeDoc(runIdFor(1), 'awaitingCallback');
    await commit(a);
    await mkdir(segmentFile(tmp.dir, 2)); // the next segment's name is taken by a directory: opening it fails
    await expect(store.writeBack()).rejects.toThrow(/EISDIR/);
    expect(store.writeBackHealth.lastError, 'the failure names the segment').toMatchObject({ files: [segmentFile(tmp.dir, 2)], fileCount: 1 });
    const a2 = makeDoc(a.id, 'succeeded');
    await commit(a2);
    expect(linesOf(await readFile(segmentFile(tmp.dir, 1), 'utf8'))).toEqual([a, a2]);
    await rmdir(segmentFile(tmp.dir, 2));
    expect(await readDurable(tmp.dir, a.id)).toEqual(a2);
  });

  describe('failures are reported', () => {
    /** What the store logged, as (level, fields, message). */
    let logged: Array<{ level: 'info' | 'error'; obj: Record<string, unknown>; msg: string }>;
    const logger: StoreLogger = {
      info: (obj, msg = '') => void logged.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      error: (obj, msg = '') => void logged.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
    };
    let now: number;
    beforeEach(() => {
      logged = [];
      now = Date.UTC(2026, 5, 1);
    });

    it('in writeBackHealth, naming the file, and in the log once per streak of failures; the first success after it says it recovered', async () => {
      await open({ logger, now: () => now });
      expect(store.writeBackHealth).toEqual({ lastError: null, consecutiveFailures: 0, lastSuccessAt: null });
      const [a, b] = [1, 2].map((n) => makeDoc(runIdFor(n), 'awaitingCallback')) as [RunDoc, RunDoc];
      await commit(a);
      await commit(b);
      await store.writeBack();
      const firstSuccess = now;
      expect(store.writeBackHealth).toEqual({ lastError: null, consecutiveFailures: 0, lastSuccessAt: firstSuccess });
      expect(logged, 'a success after no failure is not news').toEqual([]);

      // b's file cannot be replaced: a directory is where it must go (a real EISDIR from rename, root or not).
      const b2 = makeDoc(b.id, 'succeeded');
      await commit(b2);
      await unlink(runFile(b.id));
      await mkdir(runFile(b.id));
      for (let i = 1; i <= 3; i++) {
        now += 30_000;
        await expect(store.writeBack()).rejects.toThrow(/1 run file\(s\) not written/);
        expect(store.writeBackHealth).toEqual({
          lastError: { at: now, message: expect.stringContaining(runFile(b.id)) as unknown as string, files: [runFile(b.id)], fileCount: 1 },
          consecutiveFailures: i,
          lastSuccessAt: firstSuccess,
        });
      }
      expect(
        logged.map((l) => l.level),
        'three failures, one line',
      ).toEqual(['error']);
      expect(logged[0]!.obj).toMatchObject({ files: [runFile(b.id)], fileCount: 1 });
      expect(logged[0]!.msg).toMatch(/^write-back failed/);

      await rmdir(runFile(b.id));
      now += 30_000;
      await store.writeBack();
      expect(store.writeBackHealth).toEqual({ lastError: null, consecutiveFailures: 0, lastSuccessAt: now });
      expect(await inRunFile(b.id)).toEqual(b2);
      expect(logged.slice(1)).toEqual([
        {
          level: 'info',
          obj: { failures: 3, failingSince: new Date(firstSuccess + 30_000).toISOString() },
          msg: 'write-back recovered after 3 failed attempt(s)',
        },
      ]);

      // A new streak is news again.
      await commit(makeDoc(a.id, 'succeeded'));
      await unlink(runFile(a.id));
      await mkdir(runFile(a.id));
      await expect(store.writeBack()).rejects.toThrow();
      expect(logged.map((l) => l.level)).toEqual(['error', 'info', 'error']);
      expect(logged[2]!.obj).toMatchObject({ files: [runFile(a.id)] });
      await rmdir(runFile(a.id));
    });

    it('from a write-back nobody awaits (the interval), and with runs/ gone every file fails: ten named, all counted', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      await open({ logger, now: () => now, writeBackIntervalMs: 1_000 });
      const docs = Array.from({ length: 12 }, (_, i) => makeDoc(runIdFor(i), 'awaitingCallback'));
      for (const d of docs) await commit(d);
      // runs/ is a file now: no run file can be created under it (ENOTDIR).
      const runsDir = join(tmp.dir, 'runs');
      await rename(runsDir, `${runsDir}.away`);
      await writeFile(runsDir, '');
      for (let i = 1; i <= 2; i++) {
        vi.advanceTimersByTime(1_000);
        await until(async () => store.writeBackHealth.consecutiveFailures === i, `interval write-back ${i} to fail`);
      }
      const { lastError } = store.writeBackHealth;
      expect(lastError?.fileCount).toBe(12);
      expect(lastError?.files).toEqual(docs.slice(0, 10).map((d) => runFile(d.id)));
      expect(lastError?.message).toMatch(/ENOTDIR/);
      expect(logged.map((l) => l.level)).toEqual(['error']);
      for (const d of docs) expect(await store.read(d.id)).toEqual(d);

      await unlink(runsDir);
      await rename(`${runsDir}.away`, runsDir);
      vi.advanceTimersByTime(1_000);
      await until(async () => store.writeBackHealth.consecutiveFailures === 0, 'the interval write-back to succeed');
      expect(store.writeBackHealth).toEqual({ lastError: null, consecutiveFailures: 0, lastSuccessAt: now });
      expect(logged.map((l) => [l.level, l.msg])).toEqual([
        ['error', expect.stringMatching(/^write-back failed/)],
        ['info', 'write-back recovered after 2 failed attempt(s)'],
      ]);
      for (const d of docs) expect(await inRunFile(d.id)).toEqual(d);
      expect(await seqs()).toHaveLength(1);
    });
  });
});
