/**
 * Deleting runs: DELETE /api/runs/:id (final runs only) and TETHER_RETENTION_DAYS, on the file store and on
 * PostgreSQL. Both free what the run used — its file, its index line, its memory — and survive a SIGKILL mid-sweep:
 * afterwards each run is either deleted or whole (never damaged), and exactly the expired final runs are gone.
 */
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Run } from '@tether/machine';
import { serve, type Served } from './helpers/fuzz-server.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ServerProcess, freePort } from './helpers/soak-server.ts';
import { createScratchDatabase, dropScratchDatabase } from './helpers/postgres.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

const failing = (ext: FakeExternalSystem) => ({ target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 });

async function finalRun(s: Served, ext: FakeExternalSystem): Promise<Run> {
  const run = (await s.send('POST', '/api/runs', { json: failing(ext) })).json as Run;
  const t = await ext.waitFor(ext.received.length + 1);
  await s.send('POST', t.body.callbackUrl, { json: { success: true } });
  return run;
}

describe('DELETE /api/runs/:id', () => {
  it('a final run: 204, then 404 everywhere, gone from the list and from disk, still gone after a restart; an active run: 409; unknown: 404', async () => {
    const ext = await new FakeExternalSystem().start();
    open.push(ext);
    const s1 = await serve();
    const done = await finalRun(s1, ext);
    const active = (await s1.send('POST', '/api/runs', { json: failing(ext) })).json as Run;
    await s1.idle();
    expect((await s1.send('DELETE', `/api/runs/${active.id}`)).status).toBe(409);
    expect(((await s1.send('DELETE', `/api/runs/${active.id}`)).json as { error: { code: string } }).error.code).toBe('TETHER_RUN_NOT_FINAL');
    const del = await s1.send('DELETE', `/api/runs/${done.id}`);
    expect([del.status, del.text]).toEqual([204, '']);
    expect((await s1.send('GET', `/api/runs/${done.id}`)).status).toBe(404);
    expect((await s1.send('GET', `/api/runs/${done.id}/events`)).status).toBe(404);
    expect((await s1.send('DELETE', `/api/runs/${done.id}`)).status).toBe(404);
    expect(((await s1.send('GET', '/api/runs')).json as { runs: { id: string }[] }).runs.map((r) => r.id)).toEqual([active.id]);
    const dir = s1.dataDir;
    await s1.app.close(); // a clean stop writes back: the tombstone removes the run file
    expect(await readdir(join(dir, 'runs'))).toEqual([`${active.id}.json`]);
    const s2 = await serve({ dataDir: dir });
    expect(await readFile(join(dir, 'index.jsonl'), 'utf8'), 'the next start compacts the deleted run out of the index').not.toContain(done.id);
    open.push(s2, { close: () => rm(dir, { recursive: true, force: true }) });
    expect((await s2.send('GET', `/api/runs/${done.id}`)).status).toBe(404);
    expect((await s2.send('GET', '/healthz')).json as { runs: number; damaged: unknown[] }).toMatchObject({ runs: 1, damaged: [] });
  });

  it('PostgreSQL: deleted on one node, forgotten by the other', async () => {
    const ext = await new FakeExternalSystem().start();
    const url = await createScratchDatabase();
    open.push(ext, { close: () => dropScratchDatabase(url) });
    const env = { TETHER_STORE: 'postgres', TETHER_DATABASE_URL: url };
    const a = await serve({ env: { ...env, TETHER_NODE_ID: 'a' } });
    const b = await serve({ env: { ...env, TETHER_NODE_ID: 'b' } });
    open.push(a, b);
    const done = await finalRun(a, ext);
    await a.idle();
    const listed = async (s: Served) => ((await s.send('GET', '/api/runs')).json as { runs: { id: string }[] }).runs.map((r) => r.id);
    for (let i = 0; i < 100 && !(await listed(b)).includes(done.id); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await listed(b)).toEqual([done.id]);
    expect((await a.send('DELETE', `/api/runs/${done.id}`)).status).toBe(204);
    expect((await b.send('GET', `/api/runs/${done.id}`)).status).toBe(404);
    for (let i = 0; i < 100 && (await listed(b)).length; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await listed(b)).toEqual([]);
  });
});

describe('TETHER_RETENTION_DAYS', () => {
  it('deletes exactly the final runs older than the retention, across a SIGKILL mid-sweep', async () => {
    const ext = await new FakeExternalSystem().start();
    // Every trigger fails, so each run is final (failed) at once — but the one that asks to wait.
    ext.respond = (t) => ({ status: (t.body.payload as { wait?: boolean } | null)?.wait ? 202 : 500 });
    open.push(ext);
    const dir = await mkdtemp(join(tmpdir(), 'tether-retention-'));
    open.push({ close: () => rm(dir, { recursive: true, force: true }) });
    const port = await freePort();
    const make = (env: Record<string, string> = {}) =>
      new ServerProcess({
        port,
        dataDir: join(dir, 'data'),
        logFile: join(dir, 'log'),
        env: { TETHER_SECRET: 'retention-secret-retention-secret-0', ...env },
      });
    const base = `http://127.0.0.1:${port}`;
    const post = (body: unknown) =>
      fetch(`${base}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(
        (r) => r.json() as Promise<Run>,
      );
    const health = async () => (await (await fetch(`${base}/healthz`)).json()) as { runs: number; damaged: unknown[] };
    const status = async (id: string) => (await fetch(`${base}/api/runs/${id}`)).status;

    const p1 = make();
    open.push(p1);
    await p1.start();
    const OLD = 1500;
    const old: string[] = [];
    for (let i = 0; i < OLD; i += 50) old.push(...(await Promise.all(Array.from({ length: 50 }, () => post(failing(ext))))).map((r) => r.id));
    const waiting = await post({ ...failing(ext), payload: { wait: true }, timeoutSeconds: 3600 });
    // Old enough: the retention below is 30 s, and the "young" runs finish just before the restart — so they stay
    // young through both restarts below even on a loaded machine, where each start and the mid-sweep kill take seconds.
    await new Promise((r) => setTimeout(r, 31_000));
    const young = (await Promise.all(Array.from({ length: 20 }, () => post(failing(ext))))).map((r) => r.id);
    await new Promise((r) => setTimeout(r, 500));
    await p1.stop();

    const days = String(30 / 86_400);
    const p2 = make({ TETHER_RETENTION_DAYS: days });
    open.push(p2);
    await p2.start();
    // Kill it while the sweep is part-way: some old runs deleted, not all.
    let seen = OLD + 21;
    for (let i = 0; i < 2000 && seen > OLD + 21 - 50; i++) seen = (await health()).runs;
    await p2.kill();
    expect(seen, 'the kill landed mid-sweep (raise OLD if the sweep finished first)').toBeGreaterThan(21);
    expect(seen).toBeLessThan(OLD + 21);

    const p3 = make({ TETHER_RETENTION_DAYS: days });
    open.push(p3);
    await p3.start();
    let h = await health();
    for (let i = 0; i < 600 && h.runs > 21; i++) {
      await new Promise((r) => setTimeout(r, 50));
      h = await health();
    }
    expect(h, JSON.stringify(h)).toMatchObject({ runs: 21, damaged: [] });
    for (const id of [...young, waiting.id]) expect(await status(id), `${id} kept`).toBe(200);
    for (const id of old.slice(0, 50)) expect(await status(id), `${id} deleted`).toBe(404);
    const files = await readdir(join(dir, 'data', 'runs'));
    await p3.stop();
    const after = await readdir(join(dir, 'data', 'runs'));
    expect(after.length, 'only the kept runs have files once written back').toBe(21);
    expect(files.length).toBeGreaterThanOrEqual(21);
  });
});
