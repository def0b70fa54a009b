/**
 * SIGKILL inside a write-back, at the worst point: some run files already renamed into place with the journal's newest
 * documents, the others still holding older ones, and the journal segment that holds the newest of them all not yet
 * deleted. The next start must take every run from the journal (never the stale run file), carry on, and its own
 * write-back must finish the job.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { attemptIdFor, type Run } from '@tether/machine';
import { config, tempDir } from './helpers/engine.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ChildEngine, killAllChildren } from './helpers/child-harness.ts';
import { within } from './helpers/async.ts';
import { expectContiguousLog, expectReplayEqualsSnapshot } from './helpers/replay-check.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { listSegments, readDurable } from '../src/store/journal-files.ts';
import type { RunDoc } from '../src/store/types.ts';

const RUNS = 8;
const BATCH = 3;

describe('crash (SIGKILL) inside a write-back', () => {
  let ext: FakeExternalSystem;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    ext = await new FakeExternalSystem().start();
    tmp = await tempDir('tether-crash-wb-');
  });
  afterEach(async () => {
    await killAllChildren();
    await ext.close();
    await tmp.cleanup();
  });

  const runFiles = async () => (await readdir(join(tmp.dir, 'runs'))).sort();
  const inRunFile = async (id: string) => JSON.parse(await readFile(join(tmp.dir, 'runs', `${id}.json`), 'utf8')) as RunDoc;

  it('with 2 of its 3 batches of run files in place: every run as acknowledged, stale run files ignored; the next write-back finishes the job', async () => {
    const [first, second] = await Promise.all([ChildEngine.spawn(), ChildEngine.spawn()]);
    // Write-backs only when asked, three run files at a time; the child dies once five batches are in place: all three
    // of the first write-back, two of the second.
    await first.start(tmp.dir, undefined, { writeBackIntervalMs: 0, writeBackBatch: BATCH, dieAfterRunFileBatches: 5 });
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await first.create(config({ name: `wb ${i}`, target: { url: ext.url }, timeoutSeconds: 60 })));
    for (const r of runs) await first.waitForUpdate((u) => u.run.id === r.id && u.run.state === 'awaitingCallback', `${r.id} awaiting`);
    await first.request({ op: 'idle' });
    await first.request({ op: 'writeBack' });
    expect(first.writeBacks).toEqual([{ op: 'writeBack', ok: true }]);
    expect(await runFiles()).toEqual(runs.map((r) => `${r.id}.json`).sort());
    const written = new Map<string, RunDoc>();
    for (const r of runs) written.set(r.id, await inRunFile(r.id));

    // Every run changes again, all of it only in the journal: three get a heartbeat, then five finish.
    const beating = runs.slice(0, 3);
    const finishing = runs.slice(3);
    for (const r of beating) await first.request({ op: 'heartbeat', runId: r.id, attemptId: attemptIdFor(r.id, 1), progress: { r: r.id } });
    for (const r of finishing) expect((await first.callback(r.id, attemptIdFor(r.id, 1), { success: true })).result).toBe('accepted');
    await first.request({ op: 'idle' });
    const acknowledged = new Map<string, RunDoc>();
    for (const r of runs) acknowledged.set(r.id, (await first.getDoc(r.id))!);

    await expect(first.request({ op: 'writeBack' })).rejects.toThrow(/exited \(SIGKILL\) before replying/);
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(first.writeBacks).toHaveLength(1);

    // The disk as the crash left it: six run files up to date, two stale, and the segment that holds the newest
    // documents (with the fresh one the write-back rotated to) still there.
    expect((await runFiles()).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(await listSegments(tmp.dir)).toEqual([2, 3]);
    const stale: string[] = [];
    for (const r of runs) {
      const file = await inRunFile(r.id);
      if (JSON.stringify(file) === JSON.stringify(acknowledged.get(r.id))) continue;
      expect(file, `${r.id}: either up to date or as the first write-back left it`).toEqual(written.get(r.id));
      stale.push(r.id);
    }
    // Written back in commit order, so the stale ones are runs that finished in the journal and wait in their files: a
    // start that believed the files would resume them.
    expect(stale).toEqual(finishing.slice(-(RUNS - 2 * BATCH)).map((r) => r.id));
    for (const id of stale)
      expect([(await inRunFile(id)).snapshot.value, acknowledged.get(id)!.snapshot.value]).toEqual([{ attempt: 'awaitingCallback' }, 'succeeded']);
    for (const [id, doc] of acknowledged) expect(await readDurable(tmp.dir, id), id).toEqual(doc);
    // And say the crash tore the index's last line too: the whole index is then ignored (it is derived), so the start
    // must go by the journal and the run files alone.
    await appendFile(join(tmp.dir, 'index.jsonl'), '{"id":"run_');

    // A fresh child: every run as acknowledged (plus the restart it records), and it carries on.
    await second.start(tmp.dir, undefined, { writeBackIntervalMs: 0, writeBackBatch: BATCH });
    await second.request({ op: 'idle' });
    for (const [id, before] of acknowledged) {
      const doc = (await second.getDoc(id))!;
      expect(doc.events.slice(0, before.events.length), id).toEqual(before.events);
      expect(
        doc.events.slice(before.events.length).map((e) => e.type),
        id,
      ).toEqual(before.snapshot.value === 'succeeded' ? [] : ['server.recovered']);
    }
    for (const r of beating) expect((await second.callback(r.id, attemptIdFor(r.id, 1), { success: true })).result).toBe('accepted');
    for (const r of finishing) expect((await second.callback(r.id, attemptIdFor(r.id, 1), { success: true })).result).toBe('duplicate');
    await second.request({ op: 'idle' });

    // Its write-back finishes the job: every run file up to date, every older segment gone.
    await within(second.request({ op: 'writeBack' }), 10_000, 'the write-back');
    expect(second.writeBacks).toEqual([{ op: 'writeBack', ok: true }]);
    expect(await runFiles()).toEqual(runs.map((r) => `${r.id}.json`).sort());
    expect(await listSegments(tmp.dir)).toEqual([5]);
    for (const r of runs) expect(await inRunFile(r.id)).toEqual(await second.getDoc(r.id));
    await second.kill();

    const store = new LowdbRunStore({ dir: tmp.dir, writeBackIntervalMs: 0 });
    const loaded = await store.load();
    expect(loaded.active).toEqual([]);
    expect(loaded.summaries.map((s) => s.status)).toEqual(Array<string>(RUNS).fill('succeeded'));
    for (const r of runs) {
      const doc = (await store.read(r.id))!;
      expect(doc.events.filter((e) => e.type === 'callback.received' && e.verdict === 'applied')).toHaveLength(1);
      if (beating.includes(r)) expect(doc.events.filter((e) => e.type === 'heartbeat.received' && e.verdict === 'applied')).toHaveLength(1);
      expectContiguousLog(doc);
      expectReplayEqualsSnapshot(doc);
    }
    await store.close();
  });
});
