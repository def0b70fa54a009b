/**
 * Logs never carry secrets: with the runner's own logger options (loggerOptions), the pino output of a server that took
 * callbacks, heartbeats, refused signatures, bearer tokens and a ?token= stream holds none of those values.
 */
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CallbackResult } from '@tether/machine';
import { loggerOptions, type BuildOptions } from '../src/app.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { splitCallbackUrl, startServer, type TestServer } from './helpers/http-app.ts';
import { StreamClient } from './helpers/http-ws.ts';

const TOKEN = 'tok_logs_fedcba9876543210';
const SECRET = 'logs-test-secret-logs-test-secret-42';

let ext: FakeExternalSystem;
let s: TestServer;
let lines: string[];

beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
  lines = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  // At debug: the callback and stream routes' request lines are logged only then, and they are the ones with URLs to leak.
  const logger = { ...(loggerOptions('debug', false) as object), stream } as BuildOptions['logger'];
  s = await startServer({ clock: new ManualClock(), logger, env: { TETHER_API_TOKEN: TOKEN, TETHER_SECRET: SECRET, TETHER_LOG_LEVEL: 'debug' } });
});
afterEach(async () => {
  await s.close();
  await ext.close();
});

describe('logs', () => {
  it('hold no signature, token or secret, while still logging the requests', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const created = await s.createRun({ target: { url: ext.url }, heartbeatTimeoutSeconds: 30 }, auth);
    await s.idle();
    const run = await s.run(created.id, auth);
    const cb = splitCallbackUrl(run.attempts[0]!.callbackUrl!);
    const hb = splitCallbackUrl(run.attempts[0]!.heartbeatUrl!);

    expect((await s.post<CallbackResult>(`${cb.path}?sig=${hb.sig}`, { json: { success: true } })).status).toBe(401);
    expect(
      (await s.post<CallbackResult>(`${cb.path}?sig=${cb.sig}`, { raw: '{broken', headers: { 'content-type': 'application/json' } })).status,
    ).toBe(400);
    expect((await s.post<CallbackResult>(run.attempts[0]!.heartbeatUrl!, { json: { progress: 1 } })).status).toBe(200);
    expect((await s.post<CallbackResult>(run.attempts[0]!.callbackUrl!, { json: { success: true } })).status).toBe(200);
    expect((await s.post<CallbackResult>(run.attempts[0]!.callbackUrl!, { json: { success: false } })).status).toBe(409);
    expect((await s.request('GET', `/api/runs?token=${TOKEN}`)).status).toBe(200);
    const c = await StreamClient.connect(`${s.base.replace(/^http/, 'ws')}/api/stream?token=${TOKEN}`);
    await c.waitFor('the snapshot', (m) => m.length >= 1);
    await c.close();
    await s.idle();

    const text = lines.join('');
    // The capture works and the requests were logged (without their query strings).
    expect(text).toContain(`"url":"${cb.path}"`);
    expect(text).toContain(`"url":"${hb.path}"`);
    expect(text).toContain('"url":"/api/stream"');
    expect(text).toContain('"statusCode":401');
    for (const [what, secret] of [
      ['the callback signature', cb.sig],
      ['the heartbeat signature', hb.sig],
      ['the API token', TOKEN],
      ['the HMAC secret', SECRET],
    ] as const) {
      expect(text.includes(secret), `${what} appears in the log`).toBe(false);
    }
    expect(text).not.toContain('sig=');
    expect(text).not.toContain('token=');
  });
});
