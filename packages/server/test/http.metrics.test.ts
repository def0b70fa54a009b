/**
 * Operating Tether: /metrics moving with real runs (prom-client text from the real server), behind the tokens; gauges
 * exact after a restart; one lifecycle log line per transition that matters, with ids and never a secret; /livez and
 * /readyz, which fails with the reason while the store refuses commits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Run } from '@tether/machine';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import type { CommitOptions, RunDoc } from '../src/store/types.ts';
import type { RunSummary } from '@tether/machine';
import { serve, type Served } from './helpers/fuzz-server.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { StreamClient } from './helpers/http-ws.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

/** The value of one series in Prometheus text ("name{labels} value"), or undefined. */
function series(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[3] ?? '').split(',').filter(Boolean).sort();
    if (want.every((w) => got.includes(w)) && got.length === want.length) return Number(m[4]);
  }
  return undefined;
}

async function scrape(s: Served, token?: string): Promise<string> {
  const a = await s.send('GET', '/metrics', token ? { headers: { authorization: `Bearer ${token}` } } : {});
  expect(a.status, a.text.slice(0, 200)).toBe(200);
  expect(a.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return a.text;
}

async function setup(opts: Parameters<typeof serve>[0] = {}) {
  const ext = await new FakeExternalSystem().start();
  const s = await serve(opts);
  open.push(ext, s);
  return { ext, s };
}

describe('/metrics', () => {
  it('moves with real runs: started, finished, attempts, callbacks by verdict, trigger and commit histograms, timer lateness, gauges', async () => {
    const { ext, s } = await setup();
    const ws = await StreamClient.connect(`${s.base.replace('http', 'ws')}/api/stream`);
    open.push(ws);
    const before = await scrape(s);
    expect(series(before, 'tether_runs_started_total')).toBe(0);
    expect(
      series(before, 'tether_process_nodejs_eventloop_lag_p99_seconds'),
      'default Node metrics, event-loop lag among them',
    ).toBeGreaterThanOrEqual(0);

    const run = (await s.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 } })).json as Run;
    const t = await ext.waitFor(1);
    await s.idle();
    const waiting = await scrape(s);
    expect(series(waiting, 'tether_runs_active', { status: 'running' })).toBe(1);
    expect(series(waiting, 'tether_timers_armed')).toBe(1);
    expect(series(waiting, 'tether_stream_clients')).toBe(1);
    expect(series(waiting, 'tether_trigger_duration_seconds_count', { outcome: 'ok' })).toBe(1);

    await s.send('POST', t.body.heartbeatUrl, { json: { progress: { pct: 50 } } });
    expect((await s.send('POST', t.body.callbackUrl, { json: { success: true } })).status).toBe(200);
    expect((await s.send('POST', t.body.callbackUrl, { json: { success: true } })).status).toBe(200); // duplicate
    expect((await s.send('POST', t.body.callbackUrl, { json: { success: false } })).status).toBe(409); // conflict
    expect((await s.send('POST', t.body.callbackUrl.replace(/sig=[^&]+/, 'sig=forged'), { json: { success: true } })).status).toBe(401);
    // A second run times out: an attempt ended TimedOut, its timer's lateness observed.
    await s.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 0.2, retryLimit: 0 } });
    await ext.waitFor(2);
    for (let i = 0; i < 100; i++) {
      await s.idle();
      if (series(await scrape(s), 'tether_runs_finished_total', { status: 'failed' }) === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const m = await scrape(s);
    expect(series(m, 'tether_runs_started_total')).toBe(2);
    expect(series(m, 'tether_runs_finished_total', { status: 'succeeded' })).toBe(1);
    expect(series(m, 'tether_runs_finished_total', { status: 'failed' })).toBe(1);
    expect(series(m, 'tether_attempts_total', { state: 'CallbackSuccess' })).toBe(1);
    expect(series(m, 'tether_attempts_total', { state: 'TimedOut' })).toBe(1);
    expect(series(m, 'tether_attempts_total', { state: 'HeartbeatTimedOut' }), 'known states show 0, not nothing').toBe(0);
    expect(series(m, 'tether_callbacks_total', { kind: 'callback', verdict: 'applied' })).toBe(1);
    expect(series(m, 'tether_callbacks_total', { kind: 'callback', verdict: 'duplicate' })).toBe(1);
    expect(series(m, 'tether_callbacks_total', { kind: 'callback', verdict: 'conflict' })).toBe(1);
    expect(series(m, 'tether_callbacks_total', { kind: 'callback', verdict: 'bad_signature' })).toBe(1);
    expect(series(m, 'tether_callbacks_total', { kind: 'heartbeat', verdict: 'applied' })).toBe(1);
    expect(series(m, 'tether_timer_lateness_seconds_count')).toBe(1);
    expect(series(m, 'tether_commit_duration_seconds_count')).toBeGreaterThanOrEqual(8);
    expect(series(m, 'tether_runs_active', { status: 'running' })).toBe(0);
    expect(m, 'no run or attempt id in any label').not.toMatch(/run_[0-9a-z]{6}|att_[0-9a-z]{6}/);
    expect(run.id).toMatch(/^run_/);
  });

  it('behind TETHER_API_TOKEN; TETHER_METRICS_TOKEN is accepted too', async () => {
    const { s } = await setup({ env: { TETHER_API_TOKEN: 'api-token', TETHER_METRICS_TOKEN: 'scrape-token' } });
    expect((await s.send('GET', '/metrics')).status).toBe(401);
    expect((await s.send('GET', '/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    await scrape(s, 'api-token');
    await scrape(s, 'scrape-token');
  });

  it('gauges are exact after a restart (counters start again from 0)', async () => {
    const ext = await new FakeExternalSystem().start();
    open.push(ext);
    const s1 = await serve();
    await s1.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 } });
    await s1.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 } });
    await ext.waitFor(2);
    await s1.idle();
    await s1.app.close();
    const s2 = await serve({ dataDir: s1.dataDir });
    open.push(s2, { close: () => import('node:fs/promises').then((fs) => fs.rm(s1.dataDir, { recursive: true, force: true })) });
    const m = await scrape(s2);
    expect(series(m, 'tether_runs_active', { status: 'running' })).toBe(2);
    expect(series(m, 'tether_timers_armed')).toBe(2);
    expect(series(m, 'tether_runs_started_total')).toBe(0);
  });
});

describe('run lifecycle log', () => {
  it('one line per transition that matters, with runId, attemptId, attempt, state, verdict; no signature, token or header value', async () => {
    const lines: Record<string, unknown>[] = [];
    const { ext, s } = await setup({
      env: { TETHER_API_TOKEN: 'tok-secret-123' },
      build: { logger: { level: 'info', stream: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } } },
    });
    const auth = { authorization: 'Bearer tok-secret-123' };
    const run = (
      await s.send('POST', '/api/runs', {
        headers: auth,
        json: {
          target: { url: ext.url, headers: { 'X-Key': 'header-secret-456' } },
          timeoutSeconds: 0.3,
          retryLimit: 1,
          backoff: { initialSeconds: 0.1 },
        },
      })
    ).json as Run;
    await ext.waitFor(1);
    for (let i = 0; i < 100 && !lines.some((l) => l.event === 'retry.scheduled'); i++) await new Promise((r) => setTimeout(r, 50));
    const t2 = await ext.waitFor(2);
    expect((await s.send('POST', t2.body.callbackUrl, { json: { success: true } })).status).toBe(200);
    await s.send('POST', t2.body.callbackUrl, { json: { success: true } });
    await s.idle();
    const story = lines.filter((l) => l.runId === run.id && typeof l.event === 'string');
    expect(story.map((l) => l.event)).toEqual([
      'run.created',
      'attempt.triggered',
      'attempt.ended',
      'retry.scheduled',
      'attempt.triggered',
      'attempt.ended',
      'callback.accepted',
      'run.finished',
      'callback.refused',
    ]);
    expect(story.find((l) => l.event === 'attempt.ended')).toMatchObject({ attempt: 1, state: 'TimedOut', msg: 'attempt ended' });
    expect(story.find((l) => l.event === 'callback.accepted')).toMatchObject({ attemptId: t2.body.attemptId, verdict: 'applied' });
    expect(story.find((l) => l.event === 'callback.refused')).toMatchObject({ verdict: 'duplicate' });
    expect(story.find((l) => l.event === 'retry.scheduled')!.dueAt).toMatch(/^\d{4}-/);
    const all = lines.map((l) => JSON.stringify(l)).join('\n');
    for (const secret of ['tok-secret-123', 'header-secret-456', new URL(t2.body.callbackUrl).searchParams.get('sig')!])
      expect(all, 'no secret in any log line').not.toContain(secret);
    expect(
      lines.filter((l) => typeof l.req === 'object' && String((l.req as { url?: string }).url).startsWith('/api/callbacks')),
      'callback request lines only at debug',
    ).toEqual([]);
  });
});

/** The real store, whose commits can be made to fail (a real error from the file layer's caller's point of view). */
class FailingStore extends LowdbRunStore {
  failing = false;
  override async commit(doc: RunDoc, summary: RunSummary, opts?: CommitOptions): Promise<void> {
    if (this.failing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return super.commit(doc, summary, opts);
  }
}

describe('/livez and /readyz', () => {
  it('not ready (503, "recovery has not finished") until the engine resumes, which the server does once it listens', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { buildApp } = await import('../src/app.ts');
    const { loadSettings } = await import('../src/settings.ts');
    const dir = await mkdtemp(join(tmpdir(), 'tether-readyz-'));
    const app = await buildApp({
      settings: loadSettings({ TETHER_SECRET: 'readyz-secret-readyz-secret-readyz-0' }, { port: 0, dataDir: dir, dashboardDir: '/nonexistent' }),
    });
    open.push({ close: async () => (await app.close(), await rm(dir, { recursive: true, force: true })) });
    await app.ready(); // recovered, not listening: the engine is still paused
    const paused = await app.inject({ method: 'GET', url: '/readyz' });
    expect([paused.statusCode, paused.json()]).toEqual([503, { ready: false, node: expect.any(String), reason: 'recovery has not finished' }]);
    expect((await app.inject({ method: 'GET', url: '/livez' })).statusCode).toBe(200);
    await app.listen({ host: '127.0.0.1', port: 0 });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('ready while commits land; 503 with the reason while the store refuses them; ready again after one lands; livez always 200', async () => {
    let store!: FailingStore;
    const { ext, s } = await setup({ store: (dir) => (store = new FailingStore({ dir })) });
    expect([(await s.send('GET', '/readyz')).status, (await s.send('GET', '/livez')).json]).toEqual([200, { live: true }]);
    store.failing = true;
    expect((await s.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 } })).status).toBe(503);
    const r = await s.send('GET', '/readyz');
    expect(r.status).toBe(503);
    expect((r.json as { reason: string }).reason).toMatch(/the store refuses commits since .*ENOSPC/);
    expect((await s.send('GET', '/livez')).status).toBe(200);
    store.failing = false;
    expect((await s.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 } })).status).toBe(201);
    expect((await s.send('GET', '/readyz')).status).toBe(200);
  });
});
