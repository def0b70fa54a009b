/**
 * A restart after a crash re-arms the waiting runs from index.jsonl, reading none of their files (index-line.ts): each
 * open run's line carries `~p` — its attempt, its outbox size and its committed timers. A line is trusted only when it
 * is the truth: the journal does not hold the run, its outbox is empty, and no `index.stale` says an index append failed
 * (or a run file was found damaged). Everything else is read from its file, as before, and the index rewritten.
 *
 * Crashes are real: the store is abandoned without close() and its directory copied as a SIGKILL would leave it
 * (crashCopy), or a real child engine is SIGKILLed. Faults are real: RLIMIT_FSIZE makes the index append (or the
 * start-up's index rewrite) fail with EFBIG, as a full disk would.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { attemptIdFor, type Run } from '@tether/machine';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { FileRunStore } from '../src/store/file-run-store.ts';
import { listSegments, readDurable, segmentFile } from '../src/store/journal-files.ts';
import { CorruptRunFileError, type RunDoc } from '../src/store/types.ts';
import { makeDoc, runIdFor, summaryOf } from './helpers/run-docs.ts';
import { config, tempDir } from './helpers/engine.ts';
import { crashCopy, segments } from './helpers/durable.ts';
import { withFileSizeLimit } from './helpers/file-size-limit.ts';
import { expectedIndexLine, indexLinesOf, lastIndexLines, pendingOfDoc, plainIndexLine } from './helpers/index-lines.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ChildEngine, killAllChildren } from './helpers/child-harness.ts';

const T0 = Date.UTC(2026, 0, 1);
const exists = (f: string) =>
  stat(f).then(
    () => true,
    () => false,
  );
const runFile = (dir: string, id: string) => join(dir, 'runs', `${id}.json`);
const byId = <T extends { id: string }>(xs: readonly T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));

/** A waiting run in its second attempt (the store does not run the machine: only the attempt number matters here). */
function secondAttempt(id: string, at: number): RunDoc {
  const doc = makeDoc(id, 'awaitingCallback', at);
  const first = doc.snapshot.context.attempts[0]!;
  doc.snapshot.context.attempts.push({ ...first, number: 2 });
  return doc;
}

describe('after a crash, waiting runs are re-armed from their index lines', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const stores: LowdbRunStore[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  const openStore = async (dir: string, fsync = false) => {
    const s = new LowdbRunStore({ dir, fsync, writeBackIntervalMs: 0 });
    stores.push(s);
    return { store: s, loaded: await s.load() };
  };
  /** The directory as a SIGKILL now would leave it; the store that wrote it is abandoned (closed only at the end). */
  const crash = async (dir: string) => {
    const c = await crashCopy(dir);
    cleanups.push(c.cleanup);
    return c.dir;
  };
  const commit = (s: LowdbRunStore, doc: RunDoc) => s.commit(doc, summaryOf(doc));

  beforeEach(async () => {
    tmp = await tempDir('tether-index-pending-');
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => {});
    for (const c of cleanups.splice(0)) await c();
    await tmp.cleanup();
  });

  it.each([false, true])(
    'waiting runs come back in `pending` with their timers and attempt, and none of their files is read (fsync %s)',
    async (fsync) => {
      const { store } = await openStore(tmp.dir, fsync);
      const waiting = [
        makeDoc(runIdFor(1), 'awaitingCallback', T0),
        makeDoc(runIdFor(2), 'awaitingCallback', T0 + 7_000),
        secondAttempt(runIdFor(3), T0 + 9_000),
      ];
      const done = makeDoc(runIdFor(4), 'succeeded');
      for (const d of [...waiting, done]) await commit(store, d);
      await store.writeBack(); // in their run files; the journal no longer holds them
      expect((await segments(tmp.dir)).map((s) => s.text)).toEqual(['']);
      const dir = await crash(tmp.dir);
      // Proof that start-up reads no waiting run's file: every one of them is garbage now.
      for (const d of waiting) await writeFile(runFile(dir, d.id), '{"v":1,"id":"garb');

      const { store: next, loaded } = await openStore(dir);
      expect(loaded.active).toEqual([]);
      expect(loaded.damaged).toBeUndefined();
      expect(byId(loaded.pending!)).toEqual(byId(waiting.map(pendingOfDoc)));
      expect(loaded.pending!.find((p) => p.id === runIdFor(3))!.attempt).toBe(2);
      expect(new Set(loaded.pending!.map((p) => p.timers[0]!.dueAt)).size, 'three distinct timers').toBe(3);
      expect(byId(loaded.summaries)).toEqual(byId([...waiting, done].map(summaryOf)));
      // The index was true: left as it is (no rewrite, no marker).
      expect(await indexLinesOf(dir)).toEqual([...waiting, done].map(expectedIndexLine));
      expect(await exists(join(dir, 'index.stale'))).toBe(false);

      // The file is read on first use, and only then found damaged.
      const err = await next.read(waiting[0]!.id).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CorruptRunFileError);
      expect((err as CorruptRunFileError).file).toBe(runFile(dir, waiting[0]!.id));
      expect((err as CorruptRunFileError).reason).toMatch(/invalid JSON/);
      // …which leaves index.stale: the next start reads every waiting file and quarantines it there.
      expect(await exists(join(dir, 'index.stale'))).toBe(true);
    },
  );

  it('the file-run store serves the re-armed timers and reads a document on first use', async () => {
    const { store } = await openStore(tmp.dir);
    const a = makeDoc(runIdFor(1), 'awaitingCallback', T0);
    const b = secondAttempt(runIdFor(2), T0 + 5_000);
    for (const d of [a, b]) await commit(store, d);
    await store.writeBack();
    const dir = await crash(tmp.dir);
    const files = new FileRunStore(new LowdbRunStore({ dir, writeBackIntervalMs: 0 }));
    try {
      const opened = await files.open();
      expect(opened.damaged).toEqual([]);
      const due = await files.dueTimers(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
      expect(due).toEqual(
        [a, b]
          .flatMap((d) => d.timers.map((t) => ({ ...t, runId: d.id, attempt: d.snapshot.context.attempts.at(-1)!.number })))
          .sort((x, y) => x.dueAt - y.dueAt),
      );
      expect(await files.outbox(Number.POSITIVE_INFINITY)).toEqual([]);
      expect(await files.get(b.id)).toEqual(b);
    } finally {
      await files.close();
    }
  });

  it('a run with a trigger in its outbox is read from its file (`active`), as is one the journal holds', async () => {
    const { store } = await openStore(tmp.dir);
    const inFlight = makeDoc(runIdFor(1), 'triggering');
    const waiting = makeDoc(runIdFor(2), 'awaitingCallback');
    const journaled = makeDoc(runIdFor(3), 'awaitingCallback');
    for (const d of [inFlight, waiting, journaled]) await commit(store, d);
    await store.writeBack();
    const moved = makeDoc(journaled.id, 'awaitingCallback', T0 + 60_000);
    await commit(store, moved); // after the write-back: only in the journal
    const dir = await crash(tmp.dir);
    expect(((await lastIndexLines(dir)).get(inFlight.id)!['~p'] as unknown[])[1], 'its line says one trigger is in flight').toBe(1);

    const { loaded } = await openStore(dir);
    expect(byId(loaded.active)).toEqual(byId([inFlight, moved]));
    expect(loaded.active.find((d) => d.id === inFlight.id)).toEqual(await readDurable(dir, inFlight.id));
    expect(loaded.pending).toEqual([pendingOfDoc(waiting)]);
  });

  it('an old index line (a summary without `~p`) makes the start read the file, and upgrades the line', async () => {
    const { store } = await openStore(tmp.dir);
    const waiting = makeDoc(runIdFor(1), 'awaitingCallback');
    const done = makeDoc(runIdFor(2), 'succeeded');
    for (const d of [waiting, done]) await commit(store, d);
    await store.writeBack();
    const dir = await crash(tmp.dir);
    // As a Tether before index-line.ts wrote it.
    await writeFile(join(dir, 'index.jsonl'), `${plainIndexLine(waiting)}\n${plainIndexLine(done)}\n`);

    const first = await openStore(dir);
    expect(first.loaded.active).toEqual([waiting]);
    expect(first.loaded.pending).toEqual([]);
    expect((await indexLinesOf(dir)).sort()).toEqual([expectedIndexLine(waiting), expectedIndexLine(done)].sort());
    // The next crash restart then needs no file.
    const again = await crash(dir);
    await writeFile(runFile(again, waiting.id), 'garbage');
    const second = await openStore(again);
    expect(second.loaded.active).toEqual([]);
    expect(second.loaded.pending).toEqual([pendingOfDoc(waiting)]);
  });

  it.each([false, true])(
    'an index append that fails writes index.stale before the commit resolves; the next start reads every waiting file, rewrites the index and removes it (fsync %s)',
    async (fsync) => {
      const { store } = await openStore(tmp.dir, fsync);
      const docs = Array.from({ length: 12 }, (_, i) => makeDoc(runIdFor(i), 'awaitingCallback', T0 + i));
      for (const d of docs) await commit(store, d);
      await store.writeBack(); // an empty segment, an index of 12 lines
      const indexBefore = await readFile(join(tmp.dir, 'index.jsonl'), 'utf8');
      const target = docs[3]!;
      const moved = makeDoc(target.id, 'awaitingCallback', T0 + 3_600_000); // its timer moves an hour
      const record = Buffer.byteLength(`${JSON.stringify(moved)}\n`);
      // The limit is the index's size: its append fails (EFBIG), the journal append (a fresh segment) and the marker fit.
      const limit = Buffer.byteLength(indexBefore);
      expect(record, 'the record must fit under the limit').toBeLessThan(limit);
      await withFileSizeLimit(limit, async () => {
        await commit(store, moved); // the journal has it: the commit stands
        expect(await exists(join(tmp.dir, 'index.stale')), 'written before the commit resolved').toBe(true);
      });
      expect(await readFile(join(tmp.dir, 'index.jsonl'), 'utf8'), 'no line for the commit').toBe(indexBefore);
      expect(await readDurable(tmp.dir, target.id)).toEqual(moved);
      // The write-back puts the new document in the run file and removes the segment: the line now lags its file.
      await store.writeBack();
      expect((await segments(tmp.dir)).map((s) => s.text)).toEqual(['']);
      expect(JSON.parse(await readFile(runFile(tmp.dir, target.id), 'utf8'))).toEqual(moved);
      // A session whose index failed leaves no shutdown checkpoint.
      await store.checkpoint([]);
      expect(await exists(join(tmp.dir, 'checkpoint.json'))).toBe(false);
      const dir = await crash(tmp.dir);

      // Without the marker the lagging line would be trusted: the old timer re-armed, the moved one lost.
      const unmarked = await crash(dir);
      await rm(join(unmarked, 'index.stale'));
      const trusting = await openStore(unmarked);
      expect(trusting.loaded.pending!.find((p) => p.id === target.id)!.timers).toEqual(target.timers);

      // With it: every waiting file read, the moved timer among them.
      const { loaded } = await openStore(dir);
      expect(loaded.pending).toEqual([]);
      expect(byId(loaded.active)).toEqual(byId(docs.map((d) => (d.id === target.id ? moved : d))));
      expect((await indexLinesOf(dir)).sort()).toEqual(docs.map((d) => expectedIndexLine(d.id === target.id ? moved : d)).sort());
      expect(await exists(join(dir, 'index.stale'))).toBe(false);
      // And the index is trusted again at the crash restart after.
      const later = await crash(dir);
      const { loaded: next } = await openStore(later);
      expect(next.active).toEqual([]);
      expect(byId(next.pending!)).toEqual(byId(docs.map((d) => pendingOfDoc(d.id === target.id ? moved : d))));
    },
  );

  it('an index append that fails when index.stale cannot be written either: write-backs keep every journal segment', async () => {
    const { store } = await openStore(tmp.dir);
    const docs = Array.from({ length: 12 }, (_, i) => makeDoc(runIdFor(i), 'awaitingCallback', T0 + i));
    for (const d of docs) await commit(store, d);
    await store.writeBack();
    const [segment] = await listSegments(tmp.dir);
    // A directory where the marker goes: it cannot be created.
    await mkdir(join(tmp.dir, 'index.stale'));
    const target = docs[3]!;
    const moved = makeDoc(target.id, 'awaitingCallback', T0 + 3_600_000);
    const limit = Buffer.byteLength(await readFile(join(tmp.dir, 'index.jsonl'), 'utf8'));
    await withFileSizeLimit(limit, () => commit(store, moved));
    await store.writeBack();
    expect(JSON.parse(await readFile(runFile(tmp.dir, target.id), 'utf8')), 'the run file is written back').toEqual(moved);
    const kept = await listSegments(tmp.dir);
    expect(kept, 'but the segment holding the commit stays').toEqual([segment, segment! + 1]);
    expect(await readDurable(tmp.dir, target.id)).toEqual(moved);
    // Later write-backs keep them too; reads are served from the run files.
    const more = makeDoc(docs[5]!.id, 'succeeded');
    await commit(store, more);
    await store.writeBack();
    expect(await listSegments(tmp.dir)).toEqual([segment, segment! + 1, segment! + 2]);
    expect(await store.read(target.id)).toEqual(moved);
    const dir = await crash(tmp.dir);
    await rmdir(join(dir, 'index.stale')); // no marker at all: only the journal says what the index lacks

    const { loaded } = await openStore(dir);
    expect(
      loaded.active.find((d) => d.id === target.id),
      'the journal’s document, not the lagging line',
    ).toEqual(moved);
    expect(loaded.pending!.map((p) => p.id)).not.toContain(target.id);
    expect(loaded.summaries.find((s) => s.id === more.id)!.status).toBe('succeeded');
    expect((await lastIndexLines(dir)).get(target.id)).toEqual(JSON.parse(expectedIndexLine(moved)));
  });

  it('a start that cannot rewrite an index that lags (a full disk) writes index.stale, so the next start does not trust it', async () => {
    const { store } = await openStore(tmp.dir);
    const docs = Array.from({ length: 6 }, (_, i) => makeDoc(runIdFor(i), 'awaitingCallback', T0 + i));
    for (const d of docs) await commit(store, d);
    await store.writeBack();
    const dir = await crash(tmp.dir);
    // The journal append of a commit landed, its index append did not (a crash between the two).
    const moved = makeDoc(docs[2]!.id, 'awaitingCallback', T0 + 3_600_000);
    const [seq] = await listSegments(dir);
    await writeFile(segmentFile(dir, seq!), `${JSON.stringify(moved)}\n`);
    expect(await readDurable(dir, moved.id)).toEqual(moved);

    // The start's index rewrite fails (EFBIG on its temp file); the journal wins regardless.
    const limit = Buffer.byteLength(await readFile(join(dir, 'index.jsonl'), 'utf8')) - 1;
    const first = await withFileSizeLimit(limit, () => openStore(dir));
    expect(first.loaded.warnings).toEqual([expect.stringMatching(/^index\.jsonl not compacted \(EFBIG/)]);
    expect(first.loaded.active).toEqual([moved]);
    expect(await exists(join(dir, 'index.stale'))).toBe(true);
    // Its write-back empties the journal: the only other record of the commit is now the run file.
    await first.store.writeBack();
    expect((await segments(dir)).map((s) => s.text)).toEqual(['']);
    expect((await lastIndexLines(dir)).get(moved.id)).toEqual(JSON.parse(expectedIndexLine(docs[2]!)));

    const after = await crash(dir);
    const { loaded } = await openStore(after);
    expect(loaded.pending).toEqual([]);
    expect(loaded.active.find((d) => d.id === moved.id)).toEqual(moved);
    expect((await lastIndexLines(after)).get(moved.id)).toEqual(JSON.parse(expectedIndexLine(moved)));
    expect(await exists(join(after, 'index.stale'))).toBe(false);
  });

  it('a damaged waiting run found on first use is quarantined at the next start, and a repaired file is read, not its old line', async () => {
    const { store } = await openStore(tmp.dir);
    const ok = makeDoc(runIdFor(1), 'awaitingCallback');
    const bad = makeDoc(runIdFor(2), 'awaitingCallback');
    for (const d of [ok, bad]) await commit(store, d);
    await store.writeBack();
    const dir = await crash(tmp.dir);
    await writeFile(runFile(dir, bad.id), 'not json');

    const first = await openStore(dir);
    expect(first.loaded.damaged).toBeUndefined();
    await expect(first.store.read(bad.id)).rejects.toBeInstanceOf(CorruptRunFileError);
    expect(await exists(join(dir, 'index.stale'))).toBe(true);

    const second = await openStore(await crash(dir));
    const secondDir = second.store.dir;
    expect(second.loaded.damaged).toEqual([{ id: bad.id, file: runFile(secondDir, bad.id), reason: expect.stringMatching(/invalid JSON/) }]);
    expect(second.loaded.active).toEqual([ok]);
    // Still listed, with its last known summary, but its line carries no re-arm record any more.
    expect(second.loaded.summaries.map((s) => s.id).sort()).toEqual([ok.id, bad.id].sort());
    expect((await indexLinesOf(secondDir)).sort()).toEqual([expectedIndexLine(ok), plainIndexLine(bad)].sort());
    expect(await exists(join(secondDir, 'index.stale'))).toBe(false);

    // Repaired with another document than the line knew (a backup): the file is read, its timers re-armed.
    const repaired = makeDoc(bad.id, 'awaitingCallback', T0 + 86_400_000);
    const third = await crash(secondDir);
    await writeFile(runFile(third, bad.id), JSON.stringify(repaired));
    const { loaded } = await openStore(third);
    expect(loaded.damaged).toBeUndefined();
    expect(loaded.active).toEqual([repaired]);
    expect(loaded.pending).toEqual([pendingOfDoc(ok)]);
  });
});

describe('a real SIGKILL after a write-back: the restart re-arms from the index', () => {
  let ext: FakeExternalSystem;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    ext = await new FakeExternalSystem().start();
    tmp = await tempDir('tether-index-sigkill-');
  });
  afterEach(async () => {
    await killAllChildren();
    await ext.close();
    await tmp.cleanup();
  });

  it('timers at their original due times, no waiting file read to start, a damaged one found by the recovery, the rest carry on', async () => {
    const [first, second] = await Promise.all([ChildEngine.spawn(), ChildEngine.spawn()]);
    await first.start(tmp.dir, undefined, { writeBackIntervalMs: 0 });
    const runs: Run[] = [];
    for (let i = 0; i < 3; i++) runs.push(await first.create(config({ name: `sigkill ${i}`, target: { url: ext.url }, timeoutSeconds: 120 })));
    for (const r of runs) await first.waitForUpdate((u) => u.run.id === r.id && u.run.state === 'awaitingCallback', `${r.id} awaiting`);
    await first.request({ op: 'idle' });
    const acknowledged = new Map<string, RunDoc>();
    for (const r of runs) acknowledged.set(r.id, (await first.getDoc(r.id))!);
    await first.request({ op: 'writeBack' }); // the journal is empty: the runs live in their files and the index
    await first.kill();
    const killedAt = Date.now();
    expect((await segments(tmp.dir)).map((s) => s.text)).toEqual(['']);

    // What the index says, seen by a store on a copy: every run pending, with its committed timers.
    const copy = await crashCopy(tmp.dir);
    try {
      const s = new LowdbRunStore({ dir: copy.dir, writeBackIntervalMs: 0 });
      const loaded = await s.load();
      await s.close();
      expect(loaded.active).toEqual([]);
      expect(byId(loaded.pending!)).toEqual(byId([...acknowledged.values()].map(pendingOfDoc)));
    } finally {
      await copy.cleanup();
    }

    // One run's file is damaged before the restart: the start does not read it, the recovery does.
    const [bad, ...good] = runs as [Run, ...Run[]];
    const badFile = runFile(tmp.dir, bad.id);
    await writeFile(badFile, '{"v":1,');
    await second.start(tmp.dir, undefined, { writeBackIntervalMs: 0 });
    for (const r of good) {
      const u = await second.waitForUpdate((x) => x.run.id === r.id && x.events.some((e) => e.type === 'server.recovered'), `${r.id} recovered`);
      const detail = u.events.find((e) => e.type === 'server.recovered')!.detail!;
      const m = /^Server restarted; attempt 1 timer re-armed with (\d+) ms left\.$/.exec(detail);
      expect(m, detail).not.toBeNull();
      const due = Date.parse(u.run.attempts[0]!.timeoutDue!);
      // Not re-based on the restart: the timer committed before the kill, to the millisecond.
      expect(acknowledged.get(r.id)!.timers.map((t) => t.dueAt)).toEqual([due]);
      expect(Number(m![1])).toBeLessThanOrEqual(due - killedAt);
    }
    await second.request({ op: 'idle' });
    await expect(second.getDoc(bad.id)).rejects.toThrow(/RunDamagedError/);
    expect(await readFile(badFile, 'utf8'), 'left as it was').toBe('{"v":1,');
    for (const r of good) expect((await second.callback(r.id, attemptIdFor(r.id, 1), { success: true })).result).toBe('accepted');
    await second.request({ op: 'idle' });
    for (const r of good) expect((await second.getDoc(r.id))!.snapshot.value).toBe('succeeded');
    await second.kill();
  }, 60_000);
});
