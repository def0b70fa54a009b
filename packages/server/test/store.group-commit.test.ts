/**
 * The commit journal. Commits queued in one turn of the event loop are one group: one append to the current segment
 * (one fdatasync with fsync on), and each commit resolves only once its line is on disk, whole. The newest line of a
 * run is its truth until a write-back puts it in the run file. At start-up a torn last line (a write a crash cut
 * short, never acknowledged) is skipped; damage anywhere else stops start-up, naming the segment and the line.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { journalDir, readDurable } from '../src/store/journal-files.ts';
import { CorruptRunFileError, type RunDoc } from '../src/store/types.ts';
import { makeDoc, runIdFor, summaryOf } from './helpers/run-docs.ts';
import { tempDir } from './helpers/engine.ts';
import { crashCopy, linesOf, segments } from './helpers/durable.ts';
import { expectedIndexLine, pendingOfDoc } from './helpers/index-lines.ts';

const indexIds = async (dir: string) =>
  (await readFile(join(dir, 'index.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: string }).id);

describe('LowdbRunStore journal: group commit', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let store: LowdbRunStore;
  const open = async (fsync = false) => {
    store = new LowdbRunStore({ dir: tmp.dir, fsync, writeBackIntervalMs: 0 });
    return store.load();
  };
  beforeEach(async () => {
    tmp = await tempDir('tether-group-');
  });
  afterEach(async () => {
    await store?.close();
    await tmp.cleanup();
  });

  for (const fsync of [false, true]) {
    it(`${fsync ? 'with' : 'without'} fsync: 300 commits of one turn are one append, and each resolves only once its line and index line are on disk`, async () => {
      await open(fsync);
      const [segment] = await segments(tmp.dir);
      const docs = Array.from({ length: 300 }, (_, i) => makeDoc(runIdFor(i), i % 2 ? 'awaitingCallback' : 'succeeded'));
      const seen: number[] = [];
      let readBack = Promise.resolve();
      const checks = docs.map((d) =>
        store.commit(d, summaryOf(d)).then(() => {
          // Acknowledged after durable: at the instant it resolves, its line is in the segment, whole — and so is the
          // rest of its group: the 300 landed in one append, not 300.
          const lines = readFileSync(segment!.file, 'utf8').split('\n');
          seen.push(lines.length - 1);
          expect(lines.at(-1), 'nothing torn after the group').toBe('');
          expect(lines).toContain(JSON.stringify(d));
          // Its index line too: the summary, and for a waiting run what a restart re-arms (index-line.ts).
          expect(readFileSync(join(tmp.dir, 'index.jsonl'), 'utf8')).toContain(`${expectedIndexLine(d)}\n`);
          // And it is what a fresh start would read for the run (one at a time: each reads the whole journal).
          readBack = readBack.then(async () => expect(await readDurable(tmp.dir, d.id)).toEqual(d));
          return readBack;
        }),
      );
      await Promise.all(checks);
      expect(seen).toEqual(Array<number>(300).fill(300));
      expect(linesOf(await readFile(segment!.file, 'utf8')), 'in commit order').toEqual(docs);
      expect(await indexIds(tmp.dir)).toEqual(docs.map((d) => d.id));
      expect(await readdir(join(tmp.dir, 'runs')), 'no run file is written by a commit').toEqual([]);

      // A later turn is a later group, appended after the first.
      const next = docs.slice(0, 50).map((d) => makeDoc(d.id, 'succeeded', Date.UTC(2026, 0, 2)));
      await Promise.all(
        next.map((d) =>
          store.commit(d, summaryOf(d)).then(() => {
            expect(readFileSync(segment!.file, 'utf8').split('\n').length - 1).toBe(350);
          }),
        ),
      );
      expect(linesOf(await readFile(segment!.file, 'utf8'))).toEqual([...docs, ...next]);
      for (const d of next) expect(await store.read(d.id)).toEqual(d);
      expect((await segments(tmp.dir)).map((s) => s.file)).toEqual([segment!.file]);
    });
  }

  it('after close(), the journal is empty and a reopened store sees everything that was acknowledged', async () => {
    await open();
    const docs = Array.from({ length: 50 }, (_, i) => makeDoc(runIdFor(i), i % 5 ? 'awaitingCallback' : 'succeeded'));
    await Promise.all(docs.map((d) => store.commit(d, summaryOf(d))));
    const last = makeDoc(docs[1]!.id, 'succeeded');
    await store.commit(last, summaryOf(last));
    await store.close();
    expect(await readdir(journalDir(tmp.dir))).toEqual([]);
    expect((await readdir(join(tmp.dir, 'runs'))).length).toBe(50);

    const loaded = await open();
    const want = docs.map((d) => (d.id === last.id ? last : d));
    // No checkpoint (the file layer alone leaves none) and an empty journal: every waiting run is re-armed from its
    // index line, none of their files read.
    expect(loaded.active).toEqual([]);
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    expect(loaded.pending!.slice().sort(byId)).toEqual(
      want
        .filter((d) => summaryOf(d).status === 'running')
        .map(pendingOfDoc)
        .sort(byId),
    );
    expect(loaded.summaries.map((s) => [s.id, s.state]).sort()).toEqual(want.map((d) => [d.id, summaryOf(d).state]).sort());
    for (const d of want) {
      expect(await store.read(d.id)).toEqual(d);
      expect(await readDurable(tmp.dir, d.id)).toEqual(d);
    }
  });

  it('a crash leaves the journal; the next start reads it, newest line of each run winning, and writes it back later', async () => {
    await open();
    const a = makeDoc(runIdFor(1), 'triggering');
    const b = makeDoc(runIdFor(2), 'awaitingCallback');
    await store.commit(a, summaryOf(a));
    await store.commit(b, summaryOf(b));
    await store.writeBack(); // a and b in their run files
    const a2 = makeDoc(a.id, 'awaitingCallback');
    const a3 = makeDoc(a.id, 'succeeded');
    await store.commit(a2, summaryOf(a2));
    await store.commit(a3, summaryOf(a3));
    const crashed = await crashCopy(tmp.dir);
    try {
      const next = new LowdbRunStore({ dir: crashed.dir, writeBackIntervalMs: 0 });
      const loaded = await next.load();
      // a from the journal (final now); b, written back and waiting, re-armed from its index line.
      expect(loaded.active).toEqual([]);
      expect(loaded.pending).toEqual([pendingOfDoc(b)]);
      expect(Object.fromEntries(loaded.summaries.map((s) => [s.id, s.state]))).toEqual({ [a.id]: 'succeeded', [b.id]: 'awaitingCallback' });
      expect(await next.read(b.id)).toEqual(b);
      expect(await next.read(a.id)).toEqual(a3);
      // The run file is behind until a write-back; the old segment stays until then too.
      expect(JSON.parse(await readFile(join(crashed.dir, 'runs', `${a.id}.json`), 'utf8'))).toEqual(a);
      expect((await segments(crashed.dir)).length).toBe(2);
      await next.close();
      expect(JSON.parse(await readFile(join(crashed.dir, 'runs', `${a.id}.json`), 'utf8'))).toEqual(a3);
      expect(await readdir(journalDir(crashed.dir))).toEqual([]);
    } finally {
      await crashed.cleanup();
    }
  });

  it('a torn last line (a crash mid-append) is skipped at start-up; every acknowledged document is there', async () => {
    await open();
    const docs = Array.from({ length: 10 }, (_, i) => makeDoc(runIdFor(i), 'awaitingCallback'));
    await Promise.all(docs.map((d) => store.commit(d, summaryOf(d))));
    const crashed = await crashCopy(tmp.dir);
    try {
      const [segment] = await segments(crashed.dir);
      // Half of the next record of run 3, as a crash in the middle of its write leaves it: no newline, never acknowledged.
      const torn = JSON.stringify(makeDoc(docs[3]!.id, 'succeeded'));
      await appendFile(segment!.file, torn.slice(0, torn.length >> 1));
      const next = new LowdbRunStore({ dir: crashed.dir, writeBackIntervalMs: 0 });
      const loaded = await next.load();
      expect(loaded.active.map((d) => d.id).sort()).toEqual(docs.map((d) => d.id).sort());
      for (const d of docs) {
        expect(await next.read(d.id)).toEqual(d);
        expect(await readDurable(crashed.dir, d.id)).toEqual(d);
      }
      // Appends go to a fresh segment, never after the torn bytes.
      const again = makeDoc(docs[3]!.id, 'succeeded');
      await next.commit(again, summaryOf(again));
      const after = await segments(crashed.dir);
      expect(after.map((s) => s.seq)).toEqual([segment!.seq, segment!.seq + 1]);
      expect(linesOf(after[1]!.text)).toEqual([again]);
      expect(await readDurable(crashed.dir, again.id)).toEqual(again);
      await next.close();
    } finally {
      await crashed.cleanup();
    }
  });

  it('a journal line whose index line never landed (a crash between the two appends) is listed anyway, and the index corrected', async () => {
    await open();
    const waiting = makeDoc(runIdFor(1), 'awaitingCallback');
    await store.commit(waiting, summaryOf(waiting));
    const crashed = await crashCopy(tmp.dir);
    try {
      const [segment] = await segments(crashed.dir);
      // The journal append of two more commits landed, their index appends did not.
      const done = makeDoc(waiting.id, 'succeeded');
      const orphan = makeDoc(runIdFor(2), 'triggering');
      await appendFile(segment!.file, `${JSON.stringify(done)}\n${JSON.stringify(orphan)}\n`);
      const next = new LowdbRunStore({ dir: crashed.dir, writeBackIntervalMs: 0 });
      const loaded = await next.load();
      expect(loaded.active).toEqual([orphan]);
      expect(Object.fromEntries(loaded.summaries.map((s) => [s.id, s.state]))).toEqual({ [waiting.id]: 'succeeded', [orphan.id]: 'triggering' });
      const index = (await readFile(join(crashed.dir, 'index.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { id: string; state: string });
      expect(index.map((l) => [l.id, l.state])).toEqual([
        [waiting.id, 'succeeded'],
        [orphan.id, 'triggering'],
      ]);
      // Rewritten from the journal's documents: the orphan's line says its trigger is in flight (outbox 1).
      expect((await readFile(join(crashed.dir, 'index.jsonl'), 'utf8')).split('\n').filter(Boolean)).toEqual([
        expectedIndexLine(done),
        expectedIndexLine(orphan),
      ]);
      await next.close();
    } finally {
      await crashed.cleanup();
    }
  });

  const damages: Array<[string, (line: string) => string, RegExp]> = [
    ['invalid JSON', (l) => l.slice(0, 40), /line 2: invalid JSON/],
    ['not a run document', (l) => JSON.stringify({ ...(JSON.parse(l) as RunDoc), v: 9 }), /line 2.*unknown version 9/],
  ];
  it.each(damages)(
    'a damaged line in the middle of a segment (%s) stops start-up with CorruptRunFileError naming the segment and the line',
    async (_name, damage, reason) => {
      await open();
      for (let i = 0; i < 3; i++) {
        const d = makeDoc(runIdFor(i), 'awaitingCallback');
        await store.commit(d, summaryOf(d));
      }
      const crashed = await crashCopy(tmp.dir);
      try {
        const [segment] = await segments(crashed.dir);
        const lines = segment!.text.split('\n');
        lines[1] = damage(lines[1]!);
        const bad = lines.join('\n');
        await writeFile(segment!.file, bad);
        const err = await new LowdbRunStore({ dir: crashed.dir, writeBackIntervalMs: 0 }).load().then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(CorruptRunFileError);
        expect((err as Error).message).toContain(segment!.file);
        expect((err as Error).message).toMatch(reason);
        // Left as it was, for someone to look at; no new segment, no run file written.
        expect(await readFile(segment!.file, 'utf8')).toBe(bad);
        expect(await readdir(journalDir(crashed.dir))).toEqual([segment!.file.split('/').at(-1)]);
        expect(await readdir(join(crashed.dir, 'runs'))).toEqual([]);
      } finally {
        await crashed.cleanup();
      }
    },
  );
});
