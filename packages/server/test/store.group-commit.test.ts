/**
 * Group commit: commits queued in one turn of the event loop go to the writer thread together. Each is still its
 * own atomic file write, acknowledged only once its file is in place and its index line appended; one bad write
 * fails only its own commit.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { makeDoc, runIdFor, summaryOf } from './helpers/run-docs.ts';
import { tempDir } from './helpers/engine.ts';

describe('LowdbRunStore group commit', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let store: LowdbRunStore;
  beforeEach(async () => {
    tmp = await tempDir('tether-group-');
  });
  afterEach(async () => {
    await store?.close();
    await tmp.cleanup();
  });

  for (const fsync of [false, true]) {
    it(`${fsync ? 'with' : 'without'} fsync: 300 commits in one turn all land, each file whole, each with its index line, by the time each resolves`, async () => {
      store = new LowdbRunStore({ dir: tmp.dir, fsync });
      await store.load();
      const docs = Array.from({ length: 300 }, (_, i) => makeDoc(runIdFor(i), i % 2 ? 'awaitingCallback' : 'succeeded'));
      const landed: string[] = [];
      await Promise.all(
        docs.map((d) =>
          store.commit(d, summaryOf(d)).then(async () => {
            // Acknowledged after durable: the file is already there, whole.
            expect(JSON.parse(await readFile(join(tmp.dir, 'runs', `${d.id}.json`), 'utf8'))).toEqual(d);
            landed.push(d.id);
          }),
        ),
      );
      expect(landed).toHaveLength(300);
      const lines = (await readFile(join(tmp.dir, 'index.jsonl'), 'utf8')).split('\n').filter(Boolean);
      expect(lines.map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual(docs.map((d) => d.id).sort());
      expect((await readdir(join(tmp.dir, 'runs'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
    });
  }

  it('one write that cannot land fails only its own commit; the others of its group are durable', async () => {
    store = new LowdbRunStore({ dir: tmp.dir });
    await store.load();
    const docs = Array.from({ length: 20 }, (_, i) => makeDoc(runIdFor(i)));
    await mkdir(join(tmp.dir, 'runs', `${docs[7]!.id}.json`)); // a directory where the file should go: rename fails
    const results = await Promise.allSettled(docs.map((d) => store.commit(d, summaryOf(d))));
    expect(results.map((r) => r.status)).toEqual(docs.map((_, i) => (i === 7 ? 'rejected' : 'fulfilled')));
    for (const [i, d] of docs.entries()) {
      if (i === 7) continue;
      expect(await store.read(d.id)).toEqual(d);
    }
    const indexed = (await readFile(join(tmp.dir, 'index.jsonl'), 'utf8')).split('\n').filter(Boolean);
    expect(indexed.map((l) => (JSON.parse(l) as { id: string }).id)).not.toContain(docs[7]!.id);
    expect((await readdir(join(tmp.dir, 'runs'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('after close(), a reopened store sees everything that was acknowledged', async () => {
    store = new LowdbRunStore({ dir: tmp.dir });
    await store.load();
    const docs = Array.from({ length: 50 }, (_, i) => makeDoc(runIdFor(i), 'awaitingCallback'));
    await Promise.all(docs.map((d) => store.commit(d, summaryOf(d))));
    await store.close();
    store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load();
    expect(loaded.active.map((d) => d.id).sort()).toEqual(docs.map((d) => d.id).sort());
  });
});
