import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BigIntStats } from 'node:fs';
import { appendFile, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { FileRunStore } from '../src/store/file-run-store.ts';
import { journalDir, readDurable } from '../src/store/journal-files.ts';
import type { RunDoc } from '../src/store/types.ts';
import { Engine, RunDamagedError } from '../src/engine/engine.ts';
import { makeDoc, runIdFor, summaryOf } from './helpers/run-docs.ts';
import { tempDir, testSigner } from './helpers/engine.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { crashCopy, linesOf, segments } from './helpers/durable.ts';
import { withFileSizeLimit } from './helpers/file-size-limit.ts';
import { expectedIndexLine, pendingOfDoc, plainIndexLine } from './helpers/index-lines.ts';

const indexLines = async (dir: string) => (await readFile(join(dir, 'index.jsonl'), 'utf8')).split('\n').filter(Boolean);
const exists = (f: string) =>
  stat(f).then(
    () => true,
    () => false,
  );
const listTemp = async (dir: string) => {
  const all = [...(await readdir(dir)), ...(await readdir(join(dir, 'runs'))).map((n) => `runs/${n}`)];
  return all.filter((n) => n.includes('.tmp-'));
};

describe('LowdbRunStore: one document per run, an append-only index', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let store: LowdbRunStore;
  const open = async () => {
    store = new LowdbRunStore({ dir: tmp.dir, writeBackIntervalMs: 0 });
    return store.load();
  };
  const commit = (doc: RunDoc) => store.commit(doc, summaryOf(doc));

  beforeEach(async () => {
    tmp = await tempDir('tether-store-');
  });
  afterEach(async () => {
    await store?.close();
    await tmp.cleanup();
  });

  it('a commit appends exactly one line to the journal and touches no run file; a write-back rewrites only the runs it changed (new inode)', async () => {
    await open();
    const docs = Array.from({ length: 5 }, (_, i) => makeDoc(runIdFor(i)));
    for (const d of docs) await commit(d);
    await store.writeBack();
    const file = (id: string) => join(tmp.dir, 'runs', `${id}.json`);
    const statAll = async () => new Map(await Promise.all(docs.map(async (d) => [d.id, await stat(file(d.id), { bigint: true })] as const)));
    const untouched = (now: BigIntStats, was: BigIntStats) => expect([now.ino, now.mtimeNs, now.size]).toEqual([was.ino, was.mtimeNs, was.size]);
    const before = await statAll();
    const [journalBefore] = await segments(tmp.dir);
    expect(journalBefore!.text, 'a write-back leaves only a fresh, empty segment').toBe('');

    const target = makeDoc(docs[2]!.id, 'succeeded');
    const fresh = makeDoc(runIdFor(9), 'triggering');
    await commit(target);
    await commit(fresh);

    // Both commits are one line each in the segment, in order, and nothing else moved.
    const [journalAfter, ...more] = await segments(tmp.dir);
    expect(more).toEqual([]);
    expect(journalAfter!.file).toBe(journalBefore!.file);
    expect(journalAfter!.text).toBe(`${JSON.stringify(target)}\n${JSON.stringify(fresh)}\n`);
    const mid = await statAll();
    for (const d of docs) untouched(mid.get(d.id)!, before.get(d.id)!);
    expect(await exists(file(fresh.id)), 'no run file before the write-back').toBe(false);
    expect(JSON.parse(await readFile(file(target.id), 'utf8')), 'the run file still holds the old document').toEqual(docs[2]);
    // The truth is the journal's: as served, and as a fresh start would find it.
    expect(await store.read(target.id)).toEqual(target);
    expect(await readDurable(tmp.dir, target.id)).toEqual(target);
    expect(await readDurable(tmp.dir, fresh.id)).toEqual(fresh);

    await store.writeBack();
    const after = await statAll();
    for (const d of docs) {
      if (d.id === target.id) expect(after.get(d.id)!.ino, 'the changed run gets a new file (temp + rename)').not.toBe(before.get(d.id)!.ino);
      else untouched(after.get(d.id)!, before.get(d.id)!);
    }
    expect(JSON.parse(await readFile(file(target.id), 'utf8'))).toEqual(target);
    expect(JSON.parse(await readFile(file(fresh.id), 'utf8'))).toEqual(fresh);
    // The segment that held them is gone; the new one is empty; the run files now answer for them.
    expect((await segments(tmp.dir)).map((s) => [s.file === journalBefore!.file, s.text])).toEqual([[false, '']]);
    expect(await readDurable(tmp.dir, target.id)).toEqual(target);
    expect(await readDurable(tmp.dir, fresh.id)).toEqual(fresh);
    expect(await store.read(target.id)).toEqual(target);
  });

  it('leaves no temp file behind after many concurrent commits and a write-back, and the last write of each run wins', async () => {
    await open();
    const ids = Array.from({ length: 20 }, (_, i) => runIdFor(i));
    await Promise.all(ids.flatMap((id) => [commit(makeDoc(id, 'triggering')), commit(makeDoc(id, 'awaitingCallback'))]));
    await Promise.all(ids.map((id) => commit(makeDoc(id, 'succeeded'))));
    // Every commit is one line, each run's in commit order; no run file yet.
    const journaled = (await segments(tmp.dir)).flatMap((s) => linesOf(s.text));
    expect(journaled).toHaveLength(60);
    for (const id of ids) {
      expect(journaled.filter((d) => d.id === id).map((d) => summaryOf(d).state)).toEqual(['triggering', 'awaitingCallback', 'succeeded']);
      expect((await store.read(id))!.snapshot.value).toBe('succeeded');
      expect((await readDurable(tmp.dir, id))!.snapshot.value).toBe('succeeded');
    }
    expect(await readdir(join(tmp.dir, 'runs'))).toEqual([]);
    await store.writeBack();
    expect(await listTemp(tmp.dir)).toEqual([]);
    expect((await readdir(join(tmp.dir, 'runs'))).sort()).toEqual(ids.map((id) => `${id}.json`).sort());
    for (const id of ids)
      expect((JSON.parse(await readFile(join(tmp.dir, 'runs', `${id}.json`), 'utf8')) as RunDoc).snapshot.value).toBe('succeeded');

    await store.close();
    expect(await readdir(journalDir(tmp.dir)), 'a clean close leaves no journal').toEqual([]);
    const loaded = await open();
    expect(loaded.active).toEqual([]);
    expect(loaded.summaries.map((s) => [s.id, s.state]).sort()).toEqual(ids.map((id) => [id, 'succeeded']).sort());
    for (const id of ids) expect((await store.read(id))!.snapshot.value).toBe('succeeded');
  });

  it('compacts index.jsonl at start-up to one line per run, the latest one', async () => {
    await open();
    const a = runIdFor(1);
    const b = runIdFor(2);
    const bWaiting = makeDoc(b, 'awaitingCallback');
    await commit(makeDoc(a, 'triggering'));
    await commit(makeDoc(a, 'awaitingCallback'));
    await commit(makeDoc(a, 'succeeded'));
    await commit(makeDoc(b, 'triggering'));
    await commit(bWaiting);
    // One line per commit, each as the format says: a final run's summary, an open run's with its re-arm record.
    expect(await indexLines(tmp.dir)).toEqual(
      [makeDoc(a, 'triggering'), makeDoc(a, 'awaitingCallback'), makeDoc(a, 'succeeded'), makeDoc(b, 'triggering'), bWaiting].map(expectedIndexLine),
    );
    await store.close();

    const loaded = await open();
    expect((await indexLines(tmp.dir)).sort()).toEqual([expectedIndexLine(makeDoc(a, 'succeeded')), expectedIndexLine(bWaiting)].sort());
    // b waits with no trigger in flight: re-armed from its line, its file not read.
    expect(loaded.active).toEqual([]);
    expect(loaded.pending).toEqual([pendingOfDoc(bWaiting)]);
    expect(loaded.summaries.map((s) => s.id).sort()).toEqual([a, b].sort());
    // Appends continue after compaction.
    await commit(makeDoc(b, 'succeeded'));
    expect(await indexLines(tmp.dir)).toHaveLength(3);
  });

  it('loads a run that the index does not know (crash between the run file and its index line)', async () => {
    await open();
    const known = makeDoc(runIdFor(1), 'succeeded');
    await commit(known);
    await store.close();
    // Written by a process that died before appending its index line.
    const orphan = makeDoc(runIdFor(2), 'awaitingCallback');
    await writeFile(join(tmp.dir, 'runs', `${orphan.id}.json`), JSON.stringify(orphan));
    const orphanFinal = makeDoc(runIdFor(3), 'succeeded');
    await writeFile(join(tmp.dir, 'runs', `${orphanFinal.id}.json`), JSON.stringify(orphanFinal));

    const loaded = await open();
    expect(loaded.active).toEqual([orphan]);
    expect(Object.fromEntries(loaded.summaries.map((s) => [s.id, s.status]))).toEqual({
      [known.id]: 'succeeded',
      [orphan.id]: 'running',
      [orphanFinal.id]: 'succeeded',
    });
    expect((await indexLines(tmp.dir)).length).toBe(3);
  });

  it('corrects an index line that lags behind its run file when index.stale says the index may lag (the file is the truth)', async () => {
    await open();
    const doc = makeDoc(runIdFor(1), 'awaitingCallback');
    const other = makeDoc(runIdFor(2), 'awaitingCallback');
    await commit(doc);
    await commit(other);
    await store.close();
    // What a session whose index append failed leaves: the run file ahead of the line, and the marker it wrote first.
    const done = makeDoc(doc.id, 'succeeded');
    await writeFile(join(tmp.dir, 'runs', `${doc.id}.json`), JSON.stringify(done)); // index still says running
    await writeFile(join(tmp.dir, 'index.stale'), '');
    const loaded = await open();
    expect(loaded.active, 'every open run is read from its file').toEqual([other]);
    expect(loaded.pending).toEqual([]);
    expect(Object.fromEntries(loaded.summaries.map((s) => [s.id, s]))).toEqual({ [doc.id]: summaryOf(done), [other.id]: summaryOf(other) });
    // The index is rewritten from the files, and trusted again: the marker is gone.
    expect((await indexLines(tmp.dir)).sort()).toEqual([expectedIndexLine(done), expectedIndexLine(other)].sort());
    expect(await exists(join(tmp.dir, 'index.stale'))).toBe(false);
  });

  it('without index.stale, an open run’s index line is trusted: a file changed behind the store’s back is not read at start-up', async () => {
    // The trust rule: a run file can only be ahead of its line after a failed index append, which writes index.stale.
    // Anything else that changes a file (a hand edit) is not seen until the run is read.
    await open();
    const doc = makeDoc(runIdFor(1), 'awaitingCallback');
    await commit(doc);
    await store.close();
    const edited = makeDoc(doc.id, 'awaitingCallback', Date.UTC(2026, 0, 5));
    await writeFile(join(tmp.dir, 'runs', `${doc.id}.json`), JSON.stringify(edited));
    const lineBefore = await indexLines(tmp.dir);
    const loaded = await open();
    expect(loaded.active).toEqual([]);
    expect(loaded.pending, 'the timers of the line, not of the file').toEqual([pendingOfDoc(doc)]);
    expect(loaded.pending![0]!.timers).not.toEqual(edited.timers);
    expect(loaded.summaries).toEqual([summaryOf(doc)]);
    expect(await indexLines(tmp.dir), 'nothing to correct: the index is left as it is').toEqual(lineBefore);
    // The document itself comes from the file, on first use.
    expect(await store.read(doc.id)).toEqual(edited);
  });

  it('tolerates a torn last index line (crash mid-append) and still lists every run correctly', async () => {
    await open();
    const docs = [makeDoc(runIdFor(1), 'succeeded'), makeDoc(runIdFor(2), 'awaitingCallback'), makeDoc(runIdFor(3), 'succeeded')];
    for (const d of docs) await commit(d);
    await store.close();
    const full = JSON.stringify(summaryOf(makeDoc(runIdFor(2), 'succeeded')));
    await appendFile(join(tmp.dir, 'index.jsonl'), full.slice(0, full.length / 2)); // torn: no closing brace, no newline

    const loaded = await open();
    expect(loaded.summaries.map((s) => [s.id, s.status]).sort()).toEqual(docs.map((d) => [d.id, summaryOf(d).status]).sort());
    expect(loaded.active.map((d) => d.id)).toEqual([docs[1]!.id]);
    // The torn line is gone after compaction: every line parses.
    for (const l of await indexLines(tmp.dir)) expect(() => JSON.parse(l)).not.toThrow();
  });

  it('removes temp files of commits that never reached their rename, and keeps the run files', async () => {
    await open();
    const doc = makeDoc(runIdFor(1), 'awaitingCallback');
    await commit(doc);
    await store.close();
    await writeFile(join(tmp.dir, 'runs', `.${doc.id}.json.tmp-999-1`), '{"v":1,"id":"half a wri');
    await writeFile(join(tmp.dir, `.index.jsonl.tmp-999-2`), '{"id":');
    const loaded = await open();
    expect(loaded.active).toEqual([]);
    expect(loaded.pending).toEqual([pendingOfDoc(doc)]);
    expect(await listTemp(tmp.dir)).toEqual([]);
    // The run file is kept, whole.
    expect(await store.read(doc.id)).toEqual(doc);
  });

  it('fsync mode commits and reads back the same document', async () => {
    store = new LowdbRunStore({ dir: tmp.dir, fsync: true });
    await store.load();
    const doc = makeDoc(runIdFor(1), 'awaitingCallback');
    await commit(doc);
    expect(await store.read(doc.id)).toEqual(doc);
    expect(await listTemp(tmp.dir)).toEqual([]);
  });

  it('read() of an unknown or malformed id is null, never a path outside runs/', async () => {
    await open();
    expect(await store.read(runIdFor(42))).toBeNull();
    expect(await store.read('../secret')).toBeNull();
    expect(await store.read('run_../../x')).toBeNull();
  });

  it('an append that fails part-way (EFBIG: the file size limit) rejects the commit, is cut back off the journal, and changes nothing durable', async () => {
    // A real failing write, as root: RLIMIT_FSIZE on this process (vitest runs each file in a forked worker; the
    // journal's writer thread shares the limit). The limit falls inside the next record, so write(2) writes part of
    // it and then fails, exactly as a disk filling up mid-append would; chmod would not stop root.
    store = new LowdbRunStore({ dir: tmp.dir, writeBackIntervalMs: 0 });
    await store.load();
    const a = makeDoc(runIdFor(1), 'awaitingCallback');
    const b = makeDoc(runIdFor(2), 'awaitingCallback');
    await commit(a);
    await commit(b);
    const [segment] = await segments(tmp.dir);
    const index = await readFile(join(tmp.dir, 'index.jsonl'), 'utf8');
    const done = makeDoc(a.id, 'succeeded');
    const limit = Buffer.byteLength(segment!.text) + (JSON.stringify(done).length >> 1);
    expect(Buffer.byteLength(index), 'the limit must hit only the journal').toBeLessThan(limit);

    const err = await withFileSizeLimit(limit, () => commit(done)).then(
      () => null,
      (e: unknown) => e as NodeJS.ErrnoException,
    );
    expect(err?.code).toBe('EFBIG');
    // The torn group was truncated away: the segment is byte-for-byte as it was, the index has no line for it.
    expect(await readFile(segment!.file, 'utf8')).toBe(segment!.text);
    expect(await readFile(join(tmp.dir, 'index.jsonl'), 'utf8')).toBe(index);
    expect(await readDurable(tmp.dir, a.id)).toEqual(a);
    expect(await store.read(a.id)).toEqual(a);
    // The store carries on once the fault clears, in the same segment.
    await commit(done);
    expect(linesOf(await readFile(segment!.file, 'utf8'))).toEqual([a, b, done]);
    expect(await readDurable(tmp.dir, a.id)).toEqual(done);
    // A crash now: the next start finds both runs as last acknowledged.
    const crashed = await crashCopy(tmp.dir);
    try {
      const other = new LowdbRunStore({ dir: crashed.dir, writeBackIntervalMs: 0 });
      const loaded = await other.load();
      await other.close();
      expect(loaded.active).toEqual([b]);
      expect(Object.fromEntries(loaded.summaries.map((s) => [s.id, s.state]))).toEqual({ [a.id]: 'succeeded', [b.id]: 'awaitingCallback' });
    } finally {
      await crashed.cleanup();
    }
    // A session with a failed commit leaves no shutdown checkpoint: its index may lag, the next start reads everything.
    await store.checkpoint([]);
    expect(await exists(join(tmp.dir, 'checkpoint.json'))).toBe(false);
  });
});

describe('a damaged run file is quarantined: the start goes on, the file is left byte-for-byte untouched', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir('tether-corrupt-');
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  const cases: Array<[string, (doc: RunDoc) => string, RegExp]> = [
    ['truncated JSON', (d) => JSON.stringify(d).slice(0, 120), /invalid JSON/],
    ['an empty file', () => '', /invalid JSON/],
    ['JSON null', () => 'null', /empty document/],
    ['another run’s document', (d) => JSON.stringify({ ...d, id: runIdFor(99) }), /holds run/],
    ['an unknown version', (d) => JSON.stringify({ ...d, v: 7 }), /unknown version 7/],
    ['a document without its log', (d) => JSON.stringify({ ...d, events: undefined }), /missing snapshot/],
  ];

  it.each(cases)('%s: the run is quarantined naming the file; the start goes on; the file is never rewritten', async (_name, corrupt, reason) => {
    const good = new LowdbRunStore({ dir: tmp.dir });
    await good.load();
    const ok = makeDoc(runIdFor(1), 'awaitingCallback');
    const bad = makeDoc(runIdFor(2), 'awaitingCallback');
    await good.commit(ok, summaryOf(ok));
    await good.commit(bad, summaryOf(bad));
    await good.close();
    const file = join(tmp.dir, 'runs', `${bad.id}.json`);
    await writeFile(file, corrupt(bad));
    const bytes = await readFile(file);
    const st = await stat(file, { bigint: true });

    const engine = await Engine.start({
      store: new FileRunStore(new LowdbRunStore({ dir: tmp.dir })),
      signer: testSigner(),
      clock: new ManualClock(),
    });
    // Both runs wait, re-armed from their index lines: no file is read to start (store.index-pending.test.ts proves
    // it), so the damage is found by the background recovery, which records the restart of each run, reading its file.
    await engine.idle();
    const damaged = engine.damagedRuns();
    expect(damaged.map((d) => [d.runId, d.file])).toEqual([[bad.id, file]]);
    expect(damaged[0]!.reason).toMatch(reason);
    expect((await engine.getDoc(ok.id))!.events.at(-1)!.type).toBe('server.recovered');
    // Found damaged after the start: the next start must read every waiting file (so it quarantines this one there).
    expect(await exists(join(tmp.dir, 'index.stale'))).toBe(true);
    const err = await engine.getRun(bad.id).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RunDamagedError);
    expect((err as Error).message).toContain(file);
    // The other run is served, and the damaged one is still listed with its last known summary.
    expect((await engine.getRun(ok.id))!.id).toBe(ok.id);
    expect(
      engine
        .listRuns()
        .runs.map((r) => r.id)
        .sort(),
    ).toEqual([ok.id, bad.id].sort());
    await engine.stop(); // a clean shutdown writes back every run file it holds: never this one

    expect(await readFile(file)).toEqual(bytes);
    const after = await stat(file, { bigint: true });
    expect([after.ino, after.mtimeNs, after.size]).toEqual([st.ino, st.mtimeNs, st.size]);
    expect((await readdir(join(tmp.dir, 'runs'))).sort()).toEqual([`${ok.id}.json`, `${bad.id}.json`].sort());

    // The next start finds it at once (index.stale: every waiting file is read), keeps its line without a re-arm
    // record (so every later start reads its file too, until it is repaired), and trusts the index again.
    const next = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await next.load();
    await next.close();
    expect(loaded.damaged).toEqual([{ id: bad.id, file, reason: expect.stringMatching(reason) }]);
    // The clean stop's checkpoint (which leaves damaged runs out) still re-arms the good run without reading it.
    expect(loaded.active).toEqual([]);
    expect(loaded.pending!.map((p) => p.id)).toEqual([ok.id]);
    expect(loaded.summaries.map((x) => x.id).sort()).toEqual([ok.id, bad.id].sort());
    expect((await indexLines(tmp.dir)).find((l) => l.includes(bad.id))).toBe(plainIndexLine(bad));
    expect(await exists(join(tmp.dir, 'index.stale'))).toBe(false);
    expect(await readFile(file)).toEqual(bytes);
  });

  it('an unreadable run file (a directory in its place) is quarantined naming the file', async () => {
    const s = new LowdbRunStore({ dir: tmp.dir });
    await s.load();
    await s.close();
    const id = runIdFor(3);
    await mkdir(join(tmp.dir, 'runs', `${id}.json`));
    const store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load();
    await store.close();
    expect(loaded.damaged).toEqual([{ id, file: join(tmp.dir, 'runs', `${id}.json`), reason: expect.stringMatching(/unreadable/) }]);
  });

  it('a run the index knows whose file is gone is reported missing, with its last known summary', async () => {
    const s = new LowdbRunStore({ dir: tmp.dir });
    await s.load();
    const doc = makeDoc(runIdFor(4), 'succeeded');
    await s.commit(doc, summaryOf(doc));
    await s.close();
    await rm(join(tmp.dir, 'runs', `${doc.id}.json`));
    const store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load();
    await store.close();
    expect(loaded.damaged).toEqual([{ id: doc.id, file: join(tmp.dir, 'runs', `${doc.id}.json`), reason: 'the file is missing' }]);
    expect(loaded.summaries.map((x) => x.id)).toEqual([doc.id]);
  });
});
