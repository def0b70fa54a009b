/**
 * TETHER_API_TOKEN on and off, through a real listening server: the runs API and the stream need the bearer token when
 * it is set; callbacks never do (they carry their own signature); health, machine graph and OpenAPI stay open.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { machineGraph } from '@tether/machine';
import type { CallbackResult, ErrorBody, MachineGraph, Run } from '@tether/machine/protocol';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { startServer, type TestServer } from './helpers/http-app.ts';
import { StreamClient } from './helpers/http-ws.ts';

const TOKEN = 'tok_0123456789abcdef';
const bearer = { authorization: `Bearer ${TOKEN}` };

let ext: FakeExternalSystem;
beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
});
afterEach(async () => {
  await ext.close();
});

async function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const c = await StreamClient.connect(url, headers);
    await c.close();
    return 101;
  } catch (e) {
    return (e as { status?: number }).status ?? -1;
  }
}

describe('with TETHER_API_TOKEN set', () => {
  let s: TestServer;
  let run: Run;
  beforeEach(async () => {
    s = await startServer({ clock: new ManualClock(), env: { TETHER_API_TOKEN: TOKEN } });
    run = await s.createRun({ target: { url: ext.url } }, bearer);
    await s.idle();
  });
  afterEach(async () => {
    await s.close();
  });

  it('every /api/runs route needs the bearer token: 401 without it or with a wrong one', async () => {
    const a1 = run.attempts[0]!.id;
    const routes: Array<[string, string, unknown?]> = [
      ['GET', '/api/runs'],
      ['POST', '/api/runs', { target: { url: ext.url }, timeoutSeconds: 5, retryLimit: 0 }],
      ['GET', `/api/runs/${run.id}`],
      ['GET', `/api/runs/${run.id}/events`],
      ['POST', `/api/runs/${run.id}/cancel`, {}],
      ['POST', `/api/runs/${run.id}/retry-now`],
      ['POST', `/api/runs/${run.id}/attempts/${a1}/complete`, { success: true }],
      ['POST', `/api/runs/${run.id}/attempts/${a1}/timeout`],
      ['POST', `/api/runs/${run.id}/rerun`, {}],
    ];
    const wrong: Array<[string, Record<string, string>]> = [
      ['no header', {}],
      ['a wrong token', { authorization: 'Bearer nope' }],
      ['the token one character short', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
      ['the token as Basic', { authorization: `Basic ${TOKEN}` }],
      ['the bare token', { authorization: TOKEN }],
    ];
    for (const [method, path, json] of routes) {
      for (const [what, headers] of wrong) {
        const res = await s.request<ErrorBody>(method, path, { headers, ...(json !== undefined ? { json } : {}) });
        expect(res.status, `${method} ${path} with ${what}`).toBe(401);
        expect(res.body.error.code).toBe('TETHER_UNAUTHORIZED');
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    // Nothing was done by any of them.
    const list = await s.request<{ runs: Array<{ id: string; state: string }> }>('GET', '/api/runs', { headers: bearer });
    expect(list.status).toBe(200);
    expect(list.body.runs.map((r) => [r.id, r.state])).toEqual([[run.id, 'awaitingCallback']]);
    expect((await s.events(run.id, bearer)).some((e) => e.source === 'api' && e.type !== 'run.created' && e.type !== 'run.start')).toBe(false);

    // With the token, each works.
    expect((await s.request('GET', `/api/runs/${run.id}`, { headers: bearer })).status).toBe(200);
    expect((await s.request('POST', `/api/runs/${run.id}/rerun`, { headers: bearer, json: {} })).status).toBe(201);
    expect((await s.request('POST', `/api/runs/${run.id}/cancel`, { headers: bearer, json: {} })).status).toBe(200);
  });

  it('the stream needs the token, by header or ?token=', async () => {
    const ws = `${s.base.replace(/^http/, 'ws')}/api/stream`;
    expect(await refusedUpgrade(ws)).toBe(401);
    expect(await refusedUpgrade(`${ws}?token=nope`)).toBe(401);
    expect(await refusedUpgrade(ws, { authorization: 'Bearer nope' })).toBe(401);

    for (const [url, headers] of [
      [`${ws}?token=${TOKEN}`, {}],
      [ws, bearer],
      [`${ws}?runId=${run.id}&token=${TOKEN}`, {}],
    ] as const) {
      const c = await StreamClient.connect(url, headers);
      try {
        const [first] = await c.waitFor('the snapshot', (m) => m.length >= 1);
        expect(first!.type).toBe('snapshot');
      } finally {
        await c.close();
      }
    }
  });

  it('callbacks need no token: their signature is the credential', async () => {
    const res = await s.post<CallbackResult>(run.attempts[0]!.callbackUrl!, { json: { success: true } });
    expect(res.status).toBe(200);
    expect(res.body.result).toBe('accepted');
    // And a token is no substitute for a signature.
    const path = new URL(run.attempts[0]!.callbackUrl!).pathname;
    const noSig = await s.post<CallbackResult>(path, { json: { success: true }, headers: bearer });
    expect(noSig.status).toBe(401);
    expect(noSig.body.result).toBe('unauthorized');
  });

  it('/healthz, /api/machine and /api/openapi.json stay open', async () => {
    const health = await s.request<{ ok: boolean; runs: number; activeRuns: number; bootId: string; startedAt: string; timers: number }>(
      'GET',
      '/healthz',
    );
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true, runs: 1, activeRuns: 1, timers: 1 });
    expect(health.body.startedAt).toBe(new Date(Date.UTC(2026, 0, 1)).toISOString());
    expect((await s.request('GET', '/api/machine')).status).toBe(200);
    expect((await s.request('GET', '/api/openapi.json')).status).toBe(200);
  });
});

describe('without TETHER_API_TOKEN', () => {
  let s: TestServer;
  beforeEach(async () => {
    s = await startServer({ clock: new ManualClock() });
  });
  afterEach(async () => {
    await s.close();
  });

  it('the runs API and the stream are open; a stray Authorization header is ignored', async () => {
    expect(s.app.tether.settings.apiToken).toBeNull();
    const run = await s.createRun({ target: { url: ext.url } });
    expect((await s.request('GET', '/api/runs')).status).toBe(200);
    expect((await s.request('GET', `/api/runs/${run.id}`, { headers: { authorization: 'Bearer whatever' } })).status).toBe(200);
    expect((await s.request('GET', `/api/runs/${run.id}/events`)).status).toBe(200);
    const c = await StreamClient.connect(`${s.base.replace(/^http/, 'ws')}/api/stream`);
    try {
      const [first] = await c.waitFor('the snapshot', (m) => m.length >= 1);
      expect(first).toMatchObject({ type: 'snapshot', runs: [expect.objectContaining({ id: run.id })] });
    } finally {
      await c.close();
    }
  });

  it('/healthz, /api/machine, /api/openapi.json and /api/docs answer; unknown routes get a coded 404', async () => {
    const health = await s.request<Record<string, unknown>>('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true, runs: 0, activeRuns: 0, timers: 0 });
    expect(health.body.bootId).toBe(s.app.tether.engine.bootId);

    const machine = await s.request<MachineGraph>('GET', '/api/machine');
    expect(machine.status).toBe(200);
    const paths = machine.body.nodes.map((n) => n.path);
    for (const state of ['triggering', 'awaitingCallback', 'retrying', 'succeeded', 'failed', 'cancelled']) expect(paths.join(' ')).toContain(state);
    expect(machine.body.edges.length).toBeGreaterThan(5);
    // The schema's node and edge kinds are what the machine's graph really holds (the response serializer would drop
    // or mangle anything else).
    expect(machine.body).toEqual(machineGraph());

    const openapi = await s.request<{ openapi: string; paths: Record<string, Record<string, unknown>> }>('GET', '/api/openapi.json');
    expect(openapi.status).toBe(200);
    expect(openapi.body.openapi).toMatch(/^3\./);
    for (const p of [
      '/api/runs',
      '/api/runs/{id}',
      '/api/runs/{id}/events',
      '/api/runs/{id}/cancel',
      '/api/runs/{id}/retry-now',
      '/api/runs/{id}/rerun',
      '/api/callbacks/{runId}/{attemptId}',
      '/api/callbacks/{runId}/{attemptId}/heartbeat',
      '/healthz',
      '/api/machine',
    ]) {
      expect(Object.keys(openapi.body.paths), p).toContain(p);
    }
    expect(Object.keys(openapi.body.paths['/api/runs']!)).toEqual(expect.arrayContaining(['get', 'post']));

    const docs = await fetch(`${s.base}/api/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);

    const missing = await s.request<ErrorBody>('GET', '/api/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('TETHER_ROUTE_NOT_FOUND');
  });
});
