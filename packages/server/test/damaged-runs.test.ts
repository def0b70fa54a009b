/**
 * Hardening (issue 13.2): a run is never silently lost. A run the index knows whose file is missing, or a run file that
 * does not parse, is quarantined — for final and for waiting runs, found at start-up (missing files; every file a
 * crash restart reads) or at first use (a final run's file, a waiting run restored from the shutdown checkpoint):
 * every request about it is answered TETHER_RUN_DAMAGED naming the file (the webhook: 503, so its sender retries),
 * /healthz lists it, the error is logged once, the file is never rewritten, and every other run goes on.
 */
import { readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Health, Run } from '@tether/machine/protocol';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { serve, type Served } from './helpers/fuzz-server.ts';
import { tempDir } from './helpers/engine.ts';

let ext: FakeExternalSystem;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let s: Served | null = null;
let logLines: string[] = [];
const clock = new ManualClock();

const start = async () => {
  logLines = [];
  s = await serve({
    clock,
    dataDir: tmp.dir,
    build: { logger: { level: 'error', stream: { write: (line: string) => void logLines.push(line) } } },
  });
  return s;
};

beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
  tmp = await tempDir('tether-damaged-');
});
afterEach(async () => {
  await s?.close();
  s = null;
  await ext.close();
  await tmp.cleanup();
});

/** Five runs: two final, two waiting for a callback (to be damaged), and one waiting that stays healthy. */
async function seed(srv: Served) {
  const create = async (name: string) => {
    const r = await srv.send('POST', '/api/runs', { json: { name, target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 1 } });
    expect(r.status).toBe(201);
    return r.json as Run;
  };
  const runs = {
    finalMissing: await create('final-missing'),
    finalCorrupt: await create('final-corrupt'),
    waitingMissing: await create('waiting-missing'),
    waitingCorrupt: await create('waiting-corrupt'),
    healthy: await create('healthy'),
  };
  await srv.idle();
  for (const r of [runs.finalMissing, runs.finalCorrupt]) expect((await srv.send('POST', `/api/runs/${r.id}/cancel`, { json: {} })).status).toBe(200);
  const healthy = await srv.run(runs.healthy.id);
  expect(healthy.state).toBe('awaitingCallback');
  return {
    runs,
    healthyCallback: healthy.attempts[0]!.callbackUrl!,
    waitingCallback: (await srv.run(runs.waitingCorrupt.id)).attempts[0]!.callbackUrl!,
  };
}

/** A callback URL handed out by the previous server (its port), sent to this one. */
const onServer = (srv: Served, url: string) => {
  const u = new URL(url);
  return `${srv.base}${u.pathname}${u.search}`;
};
const runFile = (id: string) => join(tmp.dir, 'runs', `${id}.json`);
const GARBAGE = '{"v":1,"id":"run_trunc';

async function damage(runs: Awaited<ReturnType<typeof seed>>['runs']) {
  await unlink(runFile(runs.finalMissing.id));
  await unlink(runFile(runs.waitingMissing.id));
  await writeFile(runFile(runs.finalCorrupt.id), GARBAGE);
  await writeFile(runFile(runs.waitingCorrupt.id), '');
}

async function expectDamaged(srv: Served, id: string, file: string) {
  for (const [method, path] of [
    ['GET', `/api/runs/${id}`],
    ['GET', `/api/runs/${id}/events`],
    ['POST', `/api/runs/${id}/cancel`],
    ['POST', `/api/runs/${id}/retry-now`],
  ] as const) {
    const a = await srv.send(method, path, method === 'POST' ? { json: {} } : {});
    expect(a.status, `${method} ${path}: ${a.text}`).toBe(500);
    expect(a.json).toMatchObject({ error: { code: 'TETHER_RUN_DAMAGED' } });
    expect((a.json as { error: { message: string } }).error.message).toContain(file);
  }
}

describe('damaged runs are quarantined, reported and never dropped', () => {
  it('after a crash (every waiting file read at start-up): missing and corrupt, final and waiting — all listed at once, the server serves', async () => {
    const srv = await start();
    const { runs, healthyCallback } = await seed(srv);
    await srv.close();
    s = null;
    await damage(runs);
    // As after a crash: no shutdown checkpoint, so start-up reads every waiting run's file.
    await rm(join(tmp.dir, 'checkpoint.json'), { force: true });
    const again = await start();

    const health = (await again.send('GET', '/healthz')).json as Health;
    expect(health.ok).toBe(false);
    const listed = new Map(health.damaged.map((d) => [d.runId, d]));
    // Found at start-up: both missing files (the index knows them) and the corrupt waiting file (read after a crash).
    expect([...listed.keys()].sort()).toEqual([runs.finalMissing.id, runs.waitingMissing.id, runs.waitingCorrupt.id].sort());
    expect(listed.get(runs.finalMissing.id)).toMatchObject({ file: runFile(runs.finalMissing.id), reason: 'the file is missing' });
    expect(listed.get(runs.waitingCorrupt.id)).toMatchObject({ file: runFile(runs.waitingCorrupt.id) });

    // A final run's file is read only when it is used: found then, and listed from then on.
    await expectDamaged(again, runs.finalCorrupt.id, runFile(runs.finalCorrupt.id));
    const later = (await again.send('GET', '/healthz')).json as Health;
    expect(later.damaged.map((d) => d.runId)).toContain(runs.finalCorrupt.id);
    for (const r of [runs.finalMissing, runs.waitingMissing, runs.waitingCorrupt]) await expectDamaged(again, r.id, runFile(r.id));

    // Still listed with their last known summary: not silently gone from the list.
    const list = (await again.send('GET', '/api/runs?limit=50')).json as { runs: Array<{ id: string }> };
    expect(list.runs.map((r) => r.id)).toEqual(expect.arrayContaining(Object.values(runs).map((r) => r.id)));

    // Every other run goes on.
    const ok = await again.send('POST', onServer(again, healthyCallback), { json: { success: true } });
    expect(ok.json).toMatchObject({ result: 'accepted' });

    // Logged once per run, however often it is asked about.
    for (const r of Object.values(runs).filter((x) => x !== runs.healthy)) {
      expect(
        logLines.filter((l) => l.includes(r.id) && l.includes('run damaged')),
        r.name,
      ).toHaveLength(1);
    }

    // Never rewritten: not by the requests above, nor by the write-back and clean shutdown that follow.
    await again.close();
    s = null;
    expect(await readFile(runFile(runs.finalCorrupt.id), 'utf8')).toBe(GARBAGE);
    expect(await readFile(runFile(runs.waitingCorrupt.id), 'utf8')).toBe('');
    await expect(readFile(runFile(runs.finalMissing.id))).rejects.toThrow(/ENOENT/);
  });

  it('after a clean shutdown (waiting runs restored from the checkpoint): found right after start; its callback is answered 503, its timer not retried forever', async () => {
    const srv = await start();
    const { runs, waitingCallback } = await seed(srv);
    await srv.close();
    s = null;
    await readFile(join(tmp.dir, 'checkpoint.json')); // a clean shutdown left one
    await damage(runs);
    const again = await start();

    // The missing files are known at start-up. The corrupt waiting run's file was not read by the start (the checkpoint
    // held its timer), but its recovery marker is committed in the background right after, which reads it.
    await again.idle();
    const health = (await again.send('GET', '/healthz')).json as Health;
    expect(health.damaged.map((d) => d.runId).sort()).toEqual([runs.finalMissing.id, runs.waitingMissing.id, runs.waitingCorrupt.id].sort());

    // Its callback: 503 (retryable for the sender), naming the file; nothing recorded, nothing rewritten.
    const cb = await again.send('POST', onServer(again, waitingCallback), { json: { success: true } });
    expect(cb.status).toBe(503);
    expect(cb.headers.get('retry-after')).toBeTruthy();
    expect(cb.json).toMatchObject({ result: 'invalid' });
    expect((cb.json as { message: string }).message).toContain(runFile(runs.waitingCorrupt.id));
    expect(((await again.send('GET', '/healthz')).json as Health).damaged.map((d) => d.runId)).toContain(runs.waitingCorrupt.id);

    // The damaged runs' timers come due: quarantined, not retried every second.
    clock.advance(61_000);
    await again.idle();
    clock.advance(10_000);
    await again.idle();
    expect(logLines.filter((l) => l.includes('timer commit failed'))).toEqual([]);
    expect(logLines.filter((l) => l.includes(runs.waitingMissing.id) && l.includes('run damaged'))).toHaveLength(1);
    // The healthy run timed out and retried as usual.
    expect((await again.run(runs.healthy.id)).attempts[0]!.state).toBe('TimedOut');
    await again.close();
    s = null;
    expect(await readFile(runFile(runs.waitingCorrupt.id), 'utf8')).toBe('');
  });
});
