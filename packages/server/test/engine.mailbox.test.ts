import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptIdFor, type RunEventEntry } from '@tether/machine';
import { config } from './helpers/engine.ts';
import { harness, type Harness } from './helpers/engine-harness.ts';
import { expectContiguousLog, expectEveryRunReplays } from './helpers/replay-check.ts';
import type { RunUpdate } from '../src/engine/engine.ts';
import { readDurable } from '../src/store/journal-files.ts';
import { durableAt } from './helpers/durable.ts';

describe('engine: per-run mailboxes, commit before notify', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await expectEveryRunReplays(h.engine);
    await h.close();
  });

  const awaitingRun = async (heartbeatTimeoutSeconds?: number) => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, ...(heartbeatTimeoutSeconds ? { heartbeatTimeoutSeconds } : {}) }));
    await h.ext.waitFor(h.ext.received.length + 1);
    await h.engine.idle();
    return run;
  };

  it('100 concurrent events to one run are applied in arrival order, each exactly once', async () => {
    const run = await awaitingRun(60);
    const attemptId = attemptIdFor(run.id, 1);
    // Each commit's stored entry, as subscribers hear it: consecutive heartbeats fold into one log entry, so the order
    // and the count are read from the sequence of commits (`repeats` 1…100, progress 0…99).
    const heard: RunEventEntry[] = [];
    h.engine.subscribe((u) => {
      if (u.summary.id === run.id) heard.push(...u.events);
    });
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => h.engine.heartbeat(run.id, attemptId, { i })));
    expect(outcomes.every((o) => o.result === 'accepted')).toBe(true);
    expect(heard.map((e) => (e.event as { progress: { i: number } }).progress.i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(heard.map((e) => e.repeats ?? 1)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(heard.every((e) => e.verdict === 'applied')).toBe(true);
    const doc = (await h.engine.getDoc(run.id))!;
    const beats = doc.events.filter((e) => e.type === 'heartbeat.received');
    expect(beats).toHaveLength(1);
    expect(beats[0]).toMatchObject({ repeats: 100, event: { progress: { i: 99 } } });
    expectContiguousLog(doc);
    expect(doc.snapshot.context.attempts[0]!.progress).toEqual({ i: 99 });
    // The disk holds the same: the 100 commits were serialised, none lost to a concurrent write.
    expect(await readDurable(h.dir, run.id)).toEqual(doc);
  });

  it('100 concurrent identical callbacks: one is accepted, 99 are duplicates, all recorded', async () => {
    const run = await awaitingRun();
    const attemptId = attemptIdFor(run.id, 1);
    const outcomes = await Promise.all(Array.from({ length: 100 }, () => h.engine.callback(run.id, attemptId, { success: true, message: 'ok' })));
    expect(outcomes.map((o) => o.result)).toEqual(['accepted', ...Array<string>(99).fill('duplicate')]);
    const doc = (await h.engine.getDoc(run.id))!;
    const cbs = doc.events.filter((e) => e.type === 'callback.received');
    expect(cbs.map((e) => e.verdict)).toEqual(['applied', ...Array<string>(99).fill('duplicate')]);
    expect(doc.snapshot.context.attempts).toHaveLength(1);
  });

  it('different runs proceed in parallel and each keeps its own order', async () => {
    const runs = [];
    for (let i = 0; i < 10; i++) runs.push(await awaitingRun(60));
    const heard = new Map<string, number[]>(runs.map((r) => [r.id, []]));
    h.engine.subscribe((u) => {
      for (const e of u.events)
        if (e.type === 'heartbeat.received') heard.get(u.summary.id)?.push((e.event as { progress: { k: number } }).progress.k);
    });
    const jobs: Promise<unknown>[] = [];
    for (let k = 0; k < 20; k++) for (const r of runs) jobs.push(h.engine.heartbeat(r.id, attemptIdFor(r.id, 1), { k }));
    await Promise.all(jobs);
    for (const r of runs) {
      expect(heard.get(r.id)).toEqual(Array.from({ length: 20 }, (_, k) => k));
      const doc = (await h.engine.getDoc(r.id))!;
      expect(doc.events.filter((e) => e.type === 'heartbeat.received').map((e) => e.repeats)).toEqual([20]);
    }
  });

  it('subscribers hear of a change only once it is on disk; a throwing subscriber harms nothing', async () => {
    const checked: Array<Promise<string>> = [];
    h.engine.subscribe(() => {
      throw new Error('bad subscriber');
    });
    h.engine.subscribe((u: RunUpdate) => {
      // What a fresh start would find, as of the instant of the notification (copied now, compared later).
      const onDisk = durableAt(h.dir, u.run.id);
      checked.push(
        onDisk.then((doc) => {
          for (const e of u.events) expect(doc!.events[e.seq]).toEqual(e);
          expect(u.summary.state).toBe(u.run.state);
          return `${u.events[0]!.type}→${u.run.state}`;
        }),
      );
    });
    const run = await awaitingRun();
    await h.engine.callback(run.id, attemptIdFor(run.id, 1), { success: true });
    expect(await Promise.all(checked)).toEqual(['run.start→triggering', 'trigger.succeeded→awaitingCallback', 'callback.received→succeeded']);
  });

  it('records rejected requests on the run they name, and bounds how many it keeps', async () => {
    await h.restart({ maxRejectedPerRun: 5 });
    const run = await awaitingRun(60);
    const notified: Array<Promise<Array<{ seq: number; match: boolean }>>> = [];
    h.engine.subscribe((u) => {
      const onDisk = durableAt(h.dir, u.run.id);
      notified.push(onDisk.then((doc) => u.events.map((e) => ({ seq: e.seq, match: JSON.stringify(doc!.events[e.seq]) === JSON.stringify(e) }))));
    });
    for (let i = 0; i < 12; i++) {
      if (i === 8) expect((await h.engine.heartbeat(run.id, attemptIdFor(run.id, 1), { i })).result).toBe('accepted');
      expect(
        await h.engine.recordRejected(run.id, {
          type: 'callback.received',
          verdict: 'unauthorized',
          httpStatus: 401,
          detail: `bad sig ${i}`,
          source: 'callback',
        }),
      ).toBe(true);
    }
    expect(
      await h.engine.recordRejected('run_doesnotexist', { type: 'x', verdict: 'unauthorized', httpStatus: 401, detail: '-', source: 'callback' }),
    ).toBe(false);
    const doc = (await h.engine.getDoc(run.id))!;
    const rejected = doc.events.filter((e) => e.verdict === 'unauthorized');
    expect(rejected).toHaveLength(6); // the cap, plus the one after the accepted heartbeat (it cannot overwrite that)
    expect(rejected.at(-1)!.detail).toMatch(/more rejected requests were not kept \(limit 5 per run\)/);
    // An applied entry is never overwritten by the cap.
    expect(doc.events.find((e) => e.type === 'heartbeat.received')).toMatchObject({ verdict: 'applied', detail: 'Heartbeat accepted.' });
    // What subscribers were told is what is on disk.
    const told = (await Promise.all(notified)).flat();
    expect(told.length).toBeGreaterThanOrEqual(13);
    expect(told.filter((n) => !n.match)).toEqual([]);
    // Still accepts the real callback afterwards.
    expect((await h.engine.callback(run.id, attemptIdFor(run.id, 1), { success: true })).result).toBe('accepted');
    expectContiguousLog((await h.engine.getDoc(run.id))!);
  });
});
