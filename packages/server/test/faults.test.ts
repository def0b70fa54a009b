/**
 * Storage faults. The data directory turns read-only or full mid-run (simulated by a store that throws EROFS/ENOSPC on
 * commit while the fault lasts — the tests run as root, whom chmod does not stop): every write answers 503 and nothing
 * is acknowledged that was not committed; fired timers and trigger outcomes are retried by the engine, so once the fault
 * clears the runs carry on. A corrupt run file is quarantined (named in /healthz, left untouched); it no longer stops start-up.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Run, RunSummary } from '@tether/machine';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { readDurable } from '../src/store/journal-files.ts';
import type { CommitOptions, LoadedStore, RunDoc, RunFiles } from '../src/store/types.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { serve, type Served } from './helpers/fuzz-server.ts';
import { segments } from './helpers/durable.ts';

type Errno = 'ENOSPC' | 'EROFS';
const errno = (code: Errno) =>
  Object.assign(
    new Error(`${code}: ${code === 'ENOSPC' ? 'no space left on device' : 'read-only file system'}, write '…/journal/000000000001.jsonl'`),
    { code, errno: code === 'ENOSPC' ? -28 : -30 },
  );

/** The real store, with a switch: while `fault` is set, commits throw it — before writing, or after the journal line is written. */
class FaultyStore implements RunFiles {
  fault: Error | null = null;
  when: 'before-write' | 'after-write' = 'before-write';
  refused = 0;
  readonly inner: LowdbRunStore;

  constructor(dir: string) {
    this.inner = new LowdbRunStore({ dir });
  }
  get dir(): string {
    return this.inner.dir;
  }
  load(): Promise<LoadedStore> {
    return this.inner.load();
  }
  async commit(doc: RunDoc, summary: RunSummary, opts?: CommitOptions): Promise<void> {
    if (this.fault && this.when === 'before-write') {
      this.refused++;
      throw this.fault;
    }
    await this.inner.commit(doc, summary, opts);
    if (this.fault && this.when === 'after-write') {
      this.refused++;
      throw this.fault;
    }
  }
  remove(runId: string): Promise<void> {
    return this.inner.remove(runId);
  }

  read(runId: string): Promise<RunDoc | null> {
    return this.inner.read(runId);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

let ext: FakeExternalSystem;
let clock: ManualClock;
let store: FaultyStore;
let s: Served;
let dataDir: string;

beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
  clock = new ManualClock();
  dataDir = await mkdtemp(join(tmpdir(), 'tether-faults-'));
  s = await serve({ clock, dataDir, store: (dir) => (store = new FaultyStore(dir)) });
});
afterEach(async () => {
  await s.close();
  await ext.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function awaiting(): Promise<Run> {
  const a = await s.send('POST', '/api/runs', {
    json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 2, backoff: { initialSeconds: 1 } },
  });
  expect(a.status).toBe(201);
  await s.idle();
  return s.run((a.json as Run).id);
}
/** What a fresh start would find for the run: its newest journal line, else its run file (never the store's memory). */
const onDisk = (id: string) => readDurable(dataDir, id);
/** Every byte the store has on disk that a commit could have touched: the journal segments and the index. */
const written = async () => ({ journal: await segments(dataDir), index: await readFile(join(dataDir, 'index.jsonl'), 'utf8') });

describe.each(['ENOSPC', 'EROFS'] as const)('the data directory fails with %s mid-run', (code) => {
  it('every write answers 503 and acknowledges nothing; once it clears, timers and runs carry on', async () => {
    const a = await awaiting();
    const b = await awaiting();
    const diskBefore = [await onDisk(a.id), await onDisk(b.id)];
    expect(diskBefore.map((d) => d?.snapshot.context.attempts[0]?.state)).toEqual(['AwaitingCallback', 'AwaitingCallback']);
    const bytesBefore = await written();
    const runsBefore = s.app.tether.engine.runCount;

    store.fault = errno(code);
    const create = await s.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 } });
    expect(create.status).toBe(503);
    expect(create.headers.get('retry-after')).toBe('1');
    expect(create.json).toEqual({ error: { code: 'TETHER_UNAVAILABLE', message: 'Storage is unavailable; nothing was changed. Retry later.' } });
    const writes = [
      await s.send('POST', a.attempts[0]!.callbackUrl!, { json: { success: true } }),
      await s.send('POST', a.attempts[0]!.heartbeatUrl!, { json: { progress: 50 } }),
      await s.send('POST', `/api/runs/${b.id}/cancel`, { json: { reason: 'disk full' } }),
      await s.send('POST', `/api/runs/${a.id}/attempts/${a.attempts[0]!.id}/complete`, { json: { success: false } }),
      await s.send('POST', `/api/runs/${a.id}/rerun`, { json: {} }),
    ];
    expect(writes.map((w) => w.status)).toEqual([503, 503, 503, 503, 503]);
    expect(writes[0]!.json).toEqual({ result: 'invalid', message: 'Storage unavailable; callback not recorded. Retry.' });
    // A's timeout falls due during the fault: its commit fails, and the engine re-arms it instead of losing it.
    clock.advance(60_000);
    await s.idle();
    expect(store.refused).toBeGreaterThanOrEqual(8);

    // Nothing was acknowledged, and nothing was written: disk and the served runs are exactly as before.
    expect([await onDisk(a.id), await onDisk(b.id)]).toEqual(diskBefore);
    expect(await written()).toEqual(bytesBefore);
    expect(s.app.tether.engine.runCount).toBe(runsBefore);
    expect((await s.run(a.id)).state).toBe('awaitingCallback');
    expect((await s.run(b.id)).status).toBe('running');
    expect(s.app.tether.engine.timerCount).toBeGreaterThanOrEqual(2);

    // The fault clears: the re-armed timer fires a second later, A times out and retries; B can be cancelled now.
    store.fault = null;
    clock.advance(1_000);
    await s.idle();
    const timedOut = await s.run(a.id);
    expect(timedOut.attempts[0]!.state).toBe('TimedOut');
    expect(timedOut.state).toBe('retrying');
    expect((await s.events(a.id)).filter((e) => e.source === 'timer').map((e) => e.verdict)).toEqual(['applied']);
    clock.advance(1_000);
    await s.idle();
    expect((await s.run(a.id)).attempts.map((x) => x.state)).toEqual(['TimedOut', 'AwaitingCallback']);
    expect((await s.send('POST', `/api/runs/${b.id}/cancel`, { json: { reason: 'after the fault' } })).status).toBe(200);
    // The callback that got 503 was never applied: its attempt timed out; sent again, it is late.
    expect((await s.send('POST', a.attempts[0]!.callbackUrl!, { json: { success: true } })).json).toMatchObject({ result: 'late' });
  });

  it('a trigger outcome that cannot be committed is re-sent with the same Idempotency-Key once the fault clears', async () => {
    const a = await awaiting();
    // Attempt 1 times out; hold the external system's answer to attempt 2's trigger until the disk has failed.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    ext.respond = async (t) => {
      if (t.body.attempt === 2) await held;
      return { status: 202, body: '{}' };
    };
    clock.advance(60_000);
    await s.idle();
    clock.advance(1_000); // backoff over: attempt 2 opens and its trigger leaves
    await ext.waitFor(2);
    store.fault = errno(code);
    release();
    await s.idle();
    expect((await s.run(a.id)).attempts[1]!.state).toBe('Triggering');

    store.fault = null;
    clock.advance(1_000); // the engine re-sends after 1 s, on its clock
    await ext.waitFor(3);
    await s.idle();
    const triggers = ext.received.filter((t) => t.body.attempt === 2);
    expect(triggers).toHaveLength(2);
    expect(triggers.map((t) => t.headers['idempotency-key'])).toEqual([
      a.attempts[0]!.id.replace(/_1$/, '_2'),
      a.attempts[0]!.id.replace(/_1$/, '_2'),
    ]);
    const after = await s.run(a.id);
    expect(after.attempts[1]!.state).toBe('AwaitingCallback');
    expect((await s.events(a.id)).filter((e) => e.type === 'trigger.succeeded' && e.verdict === 'applied')).toHaveLength(2); // attempt 1 and 2, once each
  });
});

it('a commit that fails after its journal line was written is not acknowledged, and the retried callback is applied once', async () => {
  const a = await awaiting();
  store.fault = errno('ENOSPC');
  store.when = 'after-write'; // the journal line lands, then the commit fails
  const first = await s.send('POST', a.attempts[0]!.callbackUrl!, { json: { success: true, message: 'done' } });
  expect(first.status).toBe(503);
  // Written but not acknowledged: the disk already holds the applied callback.
  expect((await onDisk(a.id))!.events.filter((e) => e.type === 'callback.received' && e.verdict === 'applied')).toHaveLength(1);
  store.fault = null;
  // The caller was told nothing was recorded, so it retries, as the protocol asks.
  const retry = await s.send('POST', a.attempts[0]!.callbackUrl!, { json: { success: true, message: 'done' } });
  expect(retry.json).toMatchObject({ result: 'accepted' });
  const applied = (await s.events(a.id)).filter((e) => e.type === 'callback.received' && e.verdict === 'applied');
  expect(applied).toHaveLength(1);
  // And after a restart on the same directory: one applied callback, the run succeeded.
  await s.close();
  s = await serve({ clock, dataDir });
  expect((await s.run(a.id)).status).toBe('succeeded');
  expect((await s.events(a.id)).filter((e) => e.type === 'callback.received' && e.verdict === 'applied')).toHaveLength(1);
});

describe('a corrupt run file', () => {
  // It used to stop start-up (exit code 3): one damaged file kept every other run's timers from firing. Now the run is
  // quarantined and reported (test/damaged-runs.test.ts covers missing and corrupt, final and waiting runs).
  it('does not stop start-up: the run is quarantined, named in /healthz with its file, and the file is left untouched', async () => {
    const cases = {
      truncated: '{"v":1,"id":"run_0corrupt0000000","snap',
      wrongRun: JSON.stringify({ v: 1, id: 'run_0someoneelse00000', snapshot: {}, timers: [], outbox: [], events: [] }),
    };
    for (const [name, text] of Object.entries(cases)) {
      const dir = await mkdtemp(join(tmpdir(), `tether-corrupt-${name}-`));
      const file = join(dir, 'runs', 'run_0corrupt0000000.json');
      await mkdir(join(dir, 'runs'), { recursive: true });
      await writeFile(file, text);
      const srv = await serve({ dataDir: dir });
      try {
        const health = (await srv.send('GET', '/healthz')).json as { ok: boolean; damaged: Array<{ runId: string; file: string; reason: string }> };
        expect(health.ok, name).toBe(false);
        expect(health.damaged, name).toEqual([{ runId: 'run_0corrupt0000000', file, reason: expect.any(String), since: expect.any(String) }]);
        const get = await srv.send('GET', '/api/runs/run_0corrupt0000000');
        expect(get.json, name).toMatchObject({ error: { code: 'TETHER_RUN_DAMAGED' } });
        expect(
          (await srv.send('POST', '/api/runs', { json: { target: { url: 'http://127.0.0.1:1/x' }, timeoutSeconds: 5, retryLimit: 0 } })).status,
          name,
        ).toBe(201);
      } finally {
        await srv.close();
      }
      expect(await readFile(file, 'utf8'), `${name}: the file must be left as it was`).toBe(text);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('of a waiting run (re-armed without reading its file at start-up): the recovery right after finds it and quarantines it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tether-corrupt-waiting-'));
    try {
      const first = await serve({ clock, dataDir: dir });
      const created = (await first.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 } })).json as Run;
      await first.idle();
      expect((await first.run(created.id)).state).toBe('awaitingCallback');
      await first.close();
      const file = join(dir, 'runs', `${created.id}.json`);
      const text = '{"v":1,"id":"' + created.id + '","snap';
      await writeFile(file, text);

      const srv = await serve({ clock, dataDir: dir });
      try {
        await srv.idle(); // the background recovery reads every re-armed run to record its restart
        const health = (await srv.send('GET', '/healthz')).json as { ok: boolean; damaged: Array<{ runId: string; file: string; reason: string }> };
        expect(health.ok).toBe(false);
        expect(health.damaged).toEqual([{ runId: created.id, file, reason: expect.stringMatching(/invalid JSON/), since: expect.any(String) }]);
        expect((await srv.send('GET', `/api/runs/${created.id}`)).json).toMatchObject({ error: { code: 'TETHER_RUN_DAMAGED' } });
        // Still listed with its last known summary; every other write goes on.
        expect(((await srv.send('GET', '/api/runs')).json as { runs: Array<{ id: string }> }).runs.map((r) => r.id)).toEqual([created.id]);
        expect((await srv.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 5, retryLimit: 0 } })).status).toBe(201);
      } finally {
        await srv.close();
      }
      expect(await readFile(file, 'utf8'), 'the file must be left as it was').toBe(text);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
