/**
 * The clean-shutdown checkpoint: a stopped engine records every waiting run's committed timers, so the next start
 * reads none of their files. It only ever saves work: stale, damaged or missing (a crash), it is ignored and the start
 * goes as after a crash — the journal's documents win, every other waiting run is re-armed from its index line
 * (index-line.ts) unless that line says a trigger is in flight, then its file is read; and it is gone before anything
 * else is committed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { attemptIdFor } from '@tether/machine';
import { Engine } from '../src/engine/engine.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { FileRunStore } from '../src/store/file-run-store.ts';
import { journalDir, readDurable, segmentFile } from '../src/store/journal-files.ts';
import { config, tempDir, testSigner } from './helpers/engine.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { deferred } from './helpers/async.ts';
import { crashCopy } from './helpers/durable.ts';
import { expectEveryRunReplays } from './helpers/replay-check.ts';
import { pendingOfDoc } from './helpers/index-lines.ts';

const exists = (f: string) =>
  stat(f).then(
    () => true,
    () => false,
  );
const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : NaN);

describe('clean-shutdown checkpoint', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let ext: FakeExternalSystem;
  let clock: ManualClock;
  const checkpointFile = () => join(tmp.dir, 'checkpoint.json');
  const start = () => Engine.start({ store: new FileRunStore(new LowdbRunStore({ dir: tmp.dir })), signer: testSigner(), clock });

  beforeEach(async () => {
    tmp = await tempDir('tether-checkpoint-');
    ext = await new FakeExternalSystem().start();
    clock = new ManualClock();
  });
  afterEach(async () => {
    await ext.close();
    await tmp.cleanup();
  });

  /** Two waiting runs (one heartbeated: its timer moved), one finished. */
  async function session(): Promise<{ waiting: string[]; done: string }> {
    const engine = await start();
    const a = await engine.createRun(config({ target: { url: ext.url }, name: 'a', timeoutSeconds: 60, heartbeatTimeoutSeconds: 30 }));
    clock.advance(1);
    const b = await engine.createRun(config({ target: { url: ext.url }, name: 'b', timeoutSeconds: 90 }));
    clock.advance(1);
    const c = await engine.createRun(config({ target: { url: ext.url }, name: 'c' }));
    await ext.waitFor(3);
    await engine.idle();
    clock.advance(5_000);
    expect((await engine.heartbeat(a.id, attemptIdFor(a.id, 1), { percent: 50 })).result).toBe('accepted');
    expect((await engine.callback(c.id, attemptIdFor(c.id, 1), { success: true })).result).toBe('accepted');
    await engine.stop();
    return { waiting: [a.id, b.id], done: c.id };
  }

  it('a clean stop leaves the waiting runs’ timers; the next load takes them from it, reads no run file, and removes it', async () => {
    const { waiting } = await session();
    expect(await exists(checkpointFile())).toBe(true);
    const store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load();
    await store.close();
    expect(loaded.active).toEqual([]);
    expect(loaded.pending!.map((p) => p.id).sort()).toEqual([...waiting].sort());
    // The timers are the committed ones: a's moved with its heartbeat (5 s + 30 s), b's is its callback timeout.
    for (const p of loaded.pending!) {
      const doc = (await readDurable(tmp.dir, p.id))!;
      expect(p.timers).toEqual(doc.timers);
      expect(p.attempt).toBe(1);
    }
    expect(loaded.summaries.map((s) => s.status).sort()).toEqual(['running', 'running', 'succeeded']);
    expect(await exists(checkpointFile())).toBe(false);
  });

  it('an engine restarted from a checkpoint re-arms every timer at its original due time and records the restart', async () => {
    const { waiting, done } = await session();
    const [a, b] = waiting as [string, string];
    clock.advance(10_000);
    const engine = await start();
    await engine.idle();
    expect(engine.activeCount).toBe(2);
    expect(engine.timerCount).toBe(2);
    const recovered = async (id: string) => (await engine.getDoc(id))!.events.filter((e) => e.type === 'server.recovered').map((e) => e.detail);
    // a: heartbeat 5 s after the session's last creation, deadline 30 s after that; restarted 10 s later → 20 s left.
    expect(await recovered(a)).toEqual(['Server restarted; attempt 1 timer re-armed with 20000 ms left.']);
    expect(await recovered(b)).toEqual(['Server restarted; attempt 1 timer re-armed with 74999 ms left.']);
    expect(await recovered(done)).toEqual([]);
    const dueA = ms((await engine.getRun(a))!.attempts[0]!.heartbeatDue);
    clock.advance(19_999);
    await engine.idle();
    expect((await engine.getRun(a))!.state).toBe('awaitingCallback');
    clock.advance(1);
    await engine.idle();
    const attempt = (await engine.getRun(a))!.attempts[0]!;
    expect(attempt).toMatchObject({ state: 'HeartbeatTimedOut', timerLatenessMs: 0 });
    expect(ms(attempt.endedAt)).toBe(dueA);
    await expectEveryRunReplays(engine);
    await engine.stop();
  });

  it('is ignored when the index grew after it (a commit it does not know): each waiting run goes by its last index line', async () => {
    const { waiting } = await session();
    const [a, b] = waiting as [string, string];
    // The line appended is a's first (its creation, a trigger in flight): now a's last line, so the checkpoint —
    // which has a waiting, no trigger — no longer describes the index.
    const first = (await readFile(join(tmp.dir, 'index.jsonl'), 'utf8')).split('\n')[0]!;
    const line = JSON.parse(first) as { id: string; '~p': unknown[] };
    expect([line.id, line['~p'].slice(0, 2)], 'a, attempt 1, one trigger in its outbox').toEqual([a, [1, 1]]);
    await appendFile(join(tmp.dir, 'index.jsonl'), `${first}\n`);
    const store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load();
    await store.close();
    // a: its line says a trigger is in flight, so its file is read (and it has none); b: re-armed from its line.
    expect(loaded.active).toEqual([await readDurable(tmp.dir, a)]);
    expect(loaded.active[0]!.outbox).toEqual([]);
    expect(loaded.pending).toEqual([pendingOfDoc((await readDurable(tmp.dir, b))!)]);
    expect(await exists(checkpointFile())).toBe(false);
  });

  it('is ignored when the journal holds anything (a commit it does not know): the journal’s documents win', async () => {
    const { waiting } = await session();
    const [a] = waiting as [string, string];
    expect(await readdir(journalDir(tmp.dir)), 'a clean stop leaves no journal').toEqual([]);
    // A journaled commit of run a that the checkpoint predates: its timer moved.
    const doc = (await readDurable(tmp.dir, a))!;
    const moved = { ...doc, timers: doc.timers.map((t) => ({ ...t, dueAt: t.dueAt + 60_000 })) };
    await writeFile(segmentFile(tmp.dir, 1), `${JSON.stringify(moved)}\n`);
    const store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load();
    await store.close();
    // a as the journal has it (its timer moved, not the checkpoint's); b, not journaled, re-armed from its index line.
    expect(loaded.active).toEqual([moved]);
    expect(loaded.pending).toEqual([pendingOfDoc((await readDurable(tmp.dir, waiting[1]!))!)]);
    expect(await exists(checkpointFile())).toBe(false);
    expect(await readDurable(tmp.dir, a)).toEqual(moved);
  });

  it('is ignored when damaged, and removed', async () => {
    const { waiting } = await session();
    const good = JSON.parse(await readFile(checkpointFile(), 'utf8')) as { names: string[] };
    await writeFile(checkpointFile(), JSON.stringify({ ...good, names: [] })); // dangling name references
    const store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load();
    await store.close();
    // As after a crash: both waiting runs re-armed from their index lines, with their committed timers.
    expect(loaded.active).toEqual([]);
    const want = await Promise.all(waiting.map(async (id) => pendingOfDoc((await readDurable(tmp.dir, id))!)));
    expect(loaded.pending!.slice().sort((x, y) => x.id.localeCompare(y.id))).toEqual(want.sort((x, y) => x.id.localeCompare(y.id)));
    expect(await exists(checkpointFile())).toBe(false);
  });

  it('a crash leaves none, and a start removes the one it used: the next crash restart goes by the journal and the index', async () => {
    const engine = await start();
    await engine.createRun(config({ target: { url: ext.url } }));
    await ext.waitFor(1);
    await engine.idle();
    expect(await exists(checkpointFile())).toBe(false); // never written while running
    await engine.stop();
    const again = await start(); // uses the checkpoint, and removes it at once
    expect(await exists(checkpointFile())).toBe(false);
    await again.idle();
    // …so if this one dies now (no stop), the next start finds no checkpoint: the run's recovery marker is in the
    // journal (no write-back yet), and the journal's document wins over anything the checkpoint said.
    const crashed = await crashCopy(tmp.dir);
    try {
      const store = new LowdbRunStore({ dir: crashed.dir });
      const loaded = await store.load();
      await store.close();
      expect(loaded.pending).toEqual([]);
      expect(loaded.active).toHaveLength(1);
      expect(loaded.active[0]!.events.at(-1)!.type).toBe('server.recovered');
      expect(loaded.active[0]).toEqual(await again.getDoc(loaded.active[0]!.id));
    } finally {
      await crashed.cleanup();
    }
    await again.stop();
  });

  it('a run with a trigger in flight at shutdown is left out: read from its file, re-sent, and the re-send counted (sends 2)', async () => {
    const hold = deferred<{ status: number }>();
    let calls = 0;
    ext.respond = () => (++calls === 1 ? hold.promise : { status: 202 });
    const engine = await start();
    const run = await engine.createRun(config({ target: { url: ext.url } }));
    await ext.waitFor(1);
    expect((await engine.getDoc(run.id))!.outbox.map((o) => o.sends)).toEqual([1]);
    await engine.stop();
    hold.resolve({ status: 202 });

    const store = new LowdbRunStore({ dir: tmp.dir });
    const loaded = await store.load();
    await store.close();
    expect(loaded.pending).toEqual([]);
    expect(loaded.active.map((d) => d.id)).toEqual([run.id]);

    const next = await Engine.start({ store: new FileRunStore(new LowdbRunStore({ dir: tmp.dir })), signer: testSigner(), clock, paused: true });
    await next.idle(); // the recovery commit is made while paused; nothing is sent yet
    const doc = (await next.getDoc(run.id))!;
    expect(doc.events.find((e) => e.type === 'server.recovered')!.detail).toContain('trigger for attempt 1 re-sent');
    expect(doc.outbox.map((o) => o.sends)).toEqual([2]);
    expect(ext.received).toHaveLength(1);
    next.resume();
    const again = await ext.waitFor(2);
    expect(again.headers['idempotency-key']).toBe(attemptIdFor(run.id, 1));
    await next.idle();
    expect((await next.getRun(run.id))!.state).toBe('awaitingCallback');
    expect((await next.getDoc(run.id))!.outbox).toEqual([]);
    await next.stop();
  });
});
