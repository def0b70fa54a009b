/**
 * The built-in simulator is not an open relay: a real server, real HTTP. With TETHER_API_TOKEN its routes need the
 * token, yet the engine's own triggers (which never carry it) still work, authenticated by the callback URL's signature;
 * it calls back only to this server's own, verified callback URLs — a URL pointing at another server (a second real
 * HTTP server on loopback that counts what it receives) or carrying a forged signature is refused 400 and never
 * fetched; its jobs list holds status and verdict words, never bodies; its delayed callbacks are capped.
 * The simulator's delays run on the engine's clock, a ManualClock here: time is skipped, never slept through.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Run, RunConfig, SimulatorJobList } from '@tether/machine/protocol';
import { loadSettings, SettingsError } from '../src/settings.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { startServer, until, type TestServer } from './helpers/http-app.ts';

const TOKEN = 'tok_simulator_0123456789abcdef';
const bearer = { authorization: `Bearer ${TOKEN}` };
/** Would show up in the jobs list if the simulator kept any body it was sent or answered. */
const FOREIGN = 'FOREIGN-BODY-MARKER-7f3a';
const PAYLOAD_MARKER = 'PAYLOAD-MARKER-91c2';

/** Another HTTP server on loopback: counts every request it gets and answers with a body the simulator must not keep. */
class Elsewhere {
  requests = 0;
  private readonly server: Server = createServer((req, res) => {
    this.requests++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: 'accepted', message: FOREIGN })));
  });
  url = '';
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
async function server(opts: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(opts);
  cleanups.push(() => s.close());
  return s;
}

const jobsOf = async (s: TestServer, headers: Record<string, string> = {}) => {
  const r = await s.request<SimulatorJobList>('GET', '/simulator/jobs', { headers });
  expect(r.status).toBe(200);
  return { jobs: r.body.jobs, text: r.text };
};

const simulated = (s: TestServer, simulate: Record<string, unknown>, cfg: Partial<RunConfig> = {}) => ({
  name: 'hostile simulator',
  target: { url: `${s.base}/simulator/jobs` },
  payload: { marker: PAYLOAD_MARKER, simulate: { delaySeconds: 1, ...simulate } },
  timeoutSeconds: 60,
  retryLimit: 0,
  ...cfg,
});

/** Waits (for real HTTP, not for time) until the run satisfies `pred`. */
const runWhere = (s: TestServer, id: string, what: string, pred: (r: Run) => boolean, headers?: Record<string, string>) =>
  until(what, async () => {
    const r = await s.run(id, headers);
    return pred(r) ? r : undefined;
  });

describe('with TETHER_API_TOKEN set', () => {
  it('GET and POST /simulator/jobs need the token; the engine’s own triggers, which never carry it, still run end to end', async () => {
    const clock = new ManualClock();
    const s = await server({ clock, env: { TETHER_API_TOKEN: TOKEN } });

    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Array<Record<string, string>>) {
      const get = await s.request<{ error: { code: string } }>('GET', '/simulator/jobs', { headers });
      expect(get.status).toBe(401);
      expect(get.body.error.code).toBe('TETHER_UNAUTHORIZED');
    }
    // Without the token: a body that is not Tether's, and one whose callbackUrl this server did not sign.
    const forged = { runId: 'run_x', attemptId: 'att_x_1', attempt: 1, callbackUrl: `${s.base}/api/callbacks/run_x/att_x_1?sig=${'A'.repeat(43)}` };
    for (const json of [{ hello: 1 }, forged]) {
      const post = await s.request<{ error: { code: string } }>('POST', '/simulator/jobs', { json });
      expect(post.status).toBe(401);
      expect(post.body.error.code).toBe('TETHER_UNAUTHORIZED');
    }
    // The token does not make a callback URL acceptable: the simulator still calls back only where this server signed.
    const withToken = await s.request<{ error: { code: string; message: string } }>('POST', '/simulator/jobs', { json: forged, headers: bearer });
    expect(withToken.status).toBe(400);
    expect(withToken.body.error).toMatchObject({ code: 'TETHER_SIMULATOR_CALLBACK_REFUSED', message: expect.stringMatching(/^callbackUrl /) });
    expect((await jobsOf(s, bearer)).jobs).toEqual([]);

    // Runs created with the token, their target carrying no Authorization header: the trigger is taken on its signature.
    const ok = await s.createRun(simulated(s, { outcome: 'success' }), bearer);
    const dup = await s.createRun(simulated(s, { outcome: 'duplicate' }), bearer);
    const fail = await s.createRun(simulated(s, { outcome: 'failure', retryable: false }), bearer);
    for (const r of [ok, dup, fail]) await runWhere(s, r.id, `${r.id} triggered`, (x) => x.attempts[0]?.state === 'AwaitingCallback', bearer);
    await s.advance(1_000);
    expect((await runWhere(s, ok.id, 'success', (r) => r.status !== 'running', bearer)).attempts[0]).toMatchObject({
      state: 'CallbackSuccess',
      output: { simulated: true, attempt: 1 },
    });
    expect((await runWhere(s, fail.id, 'failure', (r) => r.status !== 'running', bearer)).attempts[0]!.state).toBe('CallbackFailure');
    expect((await runWhere(s, dup.id, 'duplicate', (r) => r.status !== 'running', bearer)).status).toBe('succeeded');

    const { jobs } = await until('both duplicate callbacks recorded', async () => {
      const j = await jobsOf(s, bearer);
      return j.jobs.find((x) => x.runId === dup.id)?.callbacks.length === 2 ? j : undefined;
    });
    expect(jobs.map((j) => [j.runId, j.outcome, j.callbacks.map((c) => [c.status, c.result])])).toEqual([
      [ok.id, 'success', [[200, 'accepted']]],
      [
        dup.id,
        'duplicate',
        [
          [200, 'accepted'],
          [200, 'duplicate'],
        ],
      ],
      [fail.id, 'failure', [[200, 'accepted']]],
    ]);
  });
});

describe('calls back only to this server’s own signed callback URLs', () => {
  it('a callbackUrl pointing elsewhere, or with a forged or borrowed signature, is refused 400 naming callbackUrl; nothing is fetched', async () => {
    const clock = new ManualClock();
    const s = await server({ clock });
    const elsewhere = await new Elsewhere().start();
    cleanups.push(() => elsewhere.close());
    const ext = await new FakeExternalSystem().start();
    cleanups.push(() => ext.close());

    // A real attempt awaiting its callback (triggered at another external system), and another run's.
    const run = await s.createRun({ target: { url: ext.url }, payload: { marker: PAYLOAD_MARKER }, timeoutSeconds: 60, retryLimit: 0 });
    const other = await s.createRun({ target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0 });
    await ext.waitFor(2);
    await s.idle();
    const t = ext.received.find((r) => r.body.runId === run.id)!.body;
    const o = ext.received.find((r) => r.body.runId === other.id)!.body;
    const { pathname, search } = new URL(t.callbackUrl);
    const sig = new URL(t.callbackUrl).searchParams.get('sig')!;
    const port = new URL(s.base).port;

    const refused: Array<[string, string]> = [
      ['another server, with the genuine path and signature', `${elsewhere.url}${pathname}${search}`],
      ['another server, any path', `${elsewhere.url}/steal?sig=${sig}`],
      ['this server under another name', `http://localhost:${port}${pathname}${search}`],
      ['a forged signature', `${s.base}${pathname}?sig=${'A'.repeat(43)}`],
      ['a tampered signature', `${s.base}${pathname}?sig=${sig}!`],
      ['no signature', `${s.base}${pathname}`],
      ['the heartbeat signature', `${s.base}${pathname}?sig=${new URL(t.heartbeatUrl).searchParams.get('sig')}`],
      ['another run’s URL', o.callbackUrl],
      ['another path on this server', `${s.base}/api/runs/${run.id}/cancel${search}`],
      ['an extra parameter', `${t.callbackUrl}&next=${encodeURIComponent(elsewhere.url)}`],
      ['credentials', `http://user:pw@127.0.0.1:${port}${pathname}${search}`],
      ['not a URL', 'not a url'],
    ];
    for (const [what, callbackUrl] of refused) {
      // `early` would call back before answering, were the URL taken.
      const r = await s.request<{ error: { code: string; message: string } }>('POST', '/simulator/jobs', {
        json: { runId: run.id, attemptId: t.attemptId, attempt: 1, callbackUrl, payload: { simulate: { outcome: 'early' } } },
      });
      expect(r.status, what).toBe(400);
      expect(r.body.error.code, what).toBe('TETHER_SIMULATOR_CALLBACK_REFUSED');
      expect(r.body.error.message, what).toMatch(/^callbackUrl /);
      expect(r.text, what).not.toContain(sig);
    }
    // The attack shape of old: a trigger naming a run, delayed callback to wherever it says.
    const delayed = await s.request('POST', '/simulator/jobs', {
      json: {
        runId: run.id,
        attemptId: t.attemptId,
        attempt: 1,
        callbackUrl: `${elsewhere.url}${pathname}${search}`,
        payload: { simulate: { outcome: 'success', delaySeconds: 1 } },
      },
    });
    expect(delayed.status).toBe(400);
    // Past the delay it asked for, short of the attempt's 60 s timeout.
    await s.advance(5_000);

    expect(elsewhere.requests).toBe(0);
    // Nothing reached this server's webhook either: a fetched forgery would have been recorded on the run as refused.
    expect((await s.events(run.id)).filter((e) => e.type.startsWith('callback'))).toEqual([]);
    expect((await jobsOf(s)).jobs).toEqual([]);

    // The genuine URL is taken, and the callback lands on this run.
    const genuine = await s.request('POST', '/simulator/jobs', {
      json: {
        runId: run.id,
        attemptId: t.attemptId,
        attempt: 1,
        callbackUrl: t.callbackUrl,
        payload: { marker: PAYLOAD_MARKER, simulate: { outcome: 'early' } },
      },
    });
    expect(genuine.status).toBe(202);
    expect((await s.run(run.id)).attempts[0]!.state).toBe('CallbackSuccess');
    expect(elsewhere.requests).toBe(0);
  });

  it('the jobs list holds ids, outcome and the webhook’s status and verdict word: never a body, a payload or a URL', async () => {
    const clock = new ManualClock();
    const s = await server({ clock });
    const runs = [await s.createRun(simulated(s, { outcome: 'success' })), await s.createRun(simulated(s, { outcome: 'early' }))];
    for (const r of runs) await runWhere(s, r.id, 'triggered', (x) => x.attempts[0]?.triggeredAt !== null || x.status !== 'running');
    await s.advance(1_000);
    for (const r of runs) await runWhere(s, r.id, 'succeeded', (x) => x.status === 'succeeded');
    const { jobs, text } = await until('both callbacks recorded', async () => {
      const j = await jobsOf(s);
      return j.jobs.every((x) => x.callbacks.length === 1) && j.jobs.length === 2 ? j : undefined;
    });
    for (const job of jobs) {
      expect(Object.keys(job).sort()).toEqual(['attempt', 'attemptId', 'callbacks', 'idempotencyKey', 'outcome', 'receivedAt', 'runId']);
      for (const cb of job.callbacks) {
        expect(Object.keys(cb).sort()).toEqual(['at', 'result', 'status']);
        expect(cb).toMatchObject({ status: 200, result: 'accepted' });
      }
    }
    // The webhook's answer carries a message; the trigger a payload and signed URLs. None of it is kept.
    expect(text).not.toContain('message');
    expect(text).not.toContain(PAYLOAD_MARKER);
    expect(text).not.toContain('sig=');
    expect(text).not.toContain(FOREIGN);
  });
});

describe('TETHER_SIMULATOR_MAX_PENDING', () => {
  it('caps the delayed callbacks held: one more is 429 TETHER_SIMULATOR_BUSY saying the cap; a trigger the engine sends then fails', async () => {
    const clock = new ManualClock();
    const s = await server({ clock, settings: { simulatorMaxPending: 2 } });
    const { signer } = s.app.tether;
    const trigger = (n: number, simulate: Record<string, unknown>) =>
      s.request<{ error: { code: string; message: string } }>('POST', '/simulator/jobs', {
        json: {
          runId: 'run_cap',
          attemptId: `att_cap_${n}`,
          attempt: 1,
          callbackUrl: signer.callbackUrl('run_cap', `att_cap_${n}`),
          payload: { simulate },
        },
      });

    expect((await trigger(1, { outcome: 'success', delaySeconds: 60 })).status).toBe(202);
    expect((await trigger(2, { outcome: 'late', delaySeconds: 60 })).status).toBe(202);
    const busy = await trigger(3, { outcome: 'failure', delaySeconds: 60 });
    expect(busy.status).toBe(429);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(busy.body.error).toEqual({ code: 'TETHER_SIMULATOR_BUSY', message: expect.stringContaining('TETHER_SIMULATOR_MAX_PENDING=2') });
    // Nothing to hold, nothing to cap.
    expect((await trigger(4, { outcome: 'never' })).status).toBe(202);

    // Through the engine: the trigger is answered 429, and the attempt fails on it.
    const run = await s.createRun(simulated(s, { outcome: 'success' }));
    const failed = await runWhere(s, run.id, 'trigger failed', (r) => r.status !== 'running');
    expect(failed.attempts[0]!.state).toBe('TriggerFailed');
    expect(failed.attempts[0]!.message).toMatch(/HTTP 429.*TETHER_SIMULATOR_BUSY/);

    // Once the held callbacks are sent (to runs that do not exist: 404, recorded as such), there is room again.
    await s.advance(120_000);
    await until('the held callbacks answered', async () => {
      const { jobs } = await jobsOf(s);
      return jobs.filter((j) => j.callbacks.length === 1).length === 2 ? jobs : undefined;
    });
    const { jobs } = await jobsOf(s);
    expect(jobs.filter((j) => j.runId === 'run_cap').map((j) => [j.attemptId, j.callbacks.map((c) => [c.status, c.result])])).toEqual([
      ['att_cap_1', [[404, 'not_found']]],
      ['att_cap_2', [[404, 'not_found']]],
      ['att_cap_4', []],
    ]);
    expect((await trigger(5, { outcome: 'success', delaySeconds: 60 })).status).toBe(202);

    // The payload is the run creator's: an outcome the simulator does not know is refused, not kept in the list.
    const unknown = await trigger(6, { outcome: 'bogus'.repeat(10_000) });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('TETHER_VALIDATION');
    expect((await jobsOf(s)).text).not.toContain('bogus');
  });

  it('is read from the environment, 1000 by default, and named when wrong', () => {
    expect(loadSettings({}).simulatorMaxPending).toBe(1000);
    expect(loadSettings({ TETHER_SIMULATOR_MAX_PENDING: '5' }).simulatorMaxPending).toBe(5);
    for (const bad of ['0', '-1', '1.5', 'many']) expect(() => loadSettings({ TETHER_SIMULATOR_MAX_PENDING: bad }), bad).toThrow(SettingsError);
    expect(() => loadSettings({ TETHER_SIMULATOR_MAX_PENDING: 'many' })).toThrow(/TETHER_SIMULATOR_MAX_PENDING/);
  });
});
