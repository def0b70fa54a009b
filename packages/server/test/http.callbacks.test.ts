/**
 * The callback webhook through a real listening server: every answer of the protocol, each recorded in the run's event
 * log with its verdict and HTTP status. Time is a ManualClock: timeouts and backoffs are skipped, never slept through.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CallbackResult, ErrorBody, Run, RunConfig, RunEventEntry } from '@tether/machine';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { HoldableStore } from './helpers/http-holdable-store.ts';
import { splitCallbackUrl, startServer, type TestServer } from './helpers/http-app.ts';
import { readDurable } from '../src/store/journal-files.ts';

const iso = (ms: number) => new Date(ms).toISOString();

let ext: FakeExternalSystem;
let clock: ManualClock;
let s: TestServer;
let T0: number;

beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
  clock = new ManualClock();
  T0 = clock.now();
  s = await startServer({ clock });
});
afterEach(async () => {
  await s.close();
  await ext.close();
});

/** A run whose first attempt is triggered and awaiting its callback (timeout 60 s, backoff 1 s). */
async function awaiting(server: TestServer = s, cfg: Partial<RunConfig> = {}): Promise<Run> {
  const created = await server.createRun({ target: { url: ext.url }, ...cfg });
  await server.idle();
  const run = await server.run(created.id);
  expect(run.state).toBe('awaitingCallback');
  return run;
}

/** Attempt 1 times out (60 s), the backoff (1 s) passes, attempt 2 is triggered and awaiting. */
async function onAttempt2(run: Run): Promise<Run> {
  await s.advance(60_000);
  expect((await s.run(run.id)).state).toBe('retrying');
  await s.advance(1_000);
  const r = await s.run(run.id);
  expect(r.attempts.map((a) => a.state)).toEqual(['TimedOut', 'AwaitingCallback']);
  return r;
}

const callbackUrl = (run: Run, n: number) => run.attempts[n - 1]!.callbackUrl!;
const heartbeatUrl = (run: Run, n: number) => run.attempts[n - 1]!.heartbeatUrl!;

/** Runs `act` and returns the log entries it added to the run. */
async function recorded(runId: string, act: () => Promise<unknown>): Promise<RunEventEntry[]> {
  const before = (await s.events(runId)).length;
  await act();
  await s.idle();
  return (await s.events(runId)).slice(before);
}

describe('200 accepted', () => {
  it('is sent only after the commit: the commit completes before the answer, and the run shows it at once', async () => {
    await s.close();
    let store!: HoldableStore;
    s = await startServer({ clock, store: (dir) => (store = new HoldableStore(dir)) });
    const run = await awaiting();

    const arrived = store.hold();
    let answered = false;
    const pending = s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: true, message: 'done', output: { rows: 3 } } }).then((r) => {
      answered = true;
      store.log.push('response');
      return r;
    });
    await arrived;
    // The commit is held at the gate: whatever the server does, it must not have answered. Give it ample time to misbehave.
    const early = await Promise.race([pending.then(() => 'answered'), new Promise((r) => setTimeout(() => r('still held'), 200))]);
    expect(early).toBe('still held');
    expect(answered).toBe(false);
    store.release();

    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ result: 'accepted', attemptId: run.attempts[0]!.id, message: 'Callback accepted.' });
    expect(store.log.slice(-2)).toEqual(['committed callback.received:applied', 'response']);

    // No idle(): the answer itself means the run already shows it.
    const after = await s.run(run.id);
    expect(after.status).toBe('succeeded');
    expect(after.attempts[0]).toMatchObject({ state: 'CallbackSuccess', isSuccess: true, message: 'done', output: { rows: 3 } });
    const events = await s.events(run.id);
    expect(events.at(-1)).toMatchObject({
      type: 'callback.received',
      source: 'callback',
      verdict: 'applied',
      httpStatus: 200,
      attemptId: run.attempts[0]!.id,
      stateAfter: 'succeeded',
    });
  });

  it('a failure callback is accepted and the run retries', async () => {
    const run = await awaiting();
    const res = await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: false, message: 'disk full' } });
    expect(res.status).toBe(200);
    expect(res.body.result).toBe('accepted');
    const after = await s.run(run.id);
    expect(after.state).toBe('retrying');
    expect(after.attempts[0]).toMatchObject({ state: 'CallbackFailure', isSuccess: false, message: 'disk full' });
  });

  it('bare true and bare false are the typed-bool callback, with or without a content type', async () => {
    const a = await awaiting();
    const t = await s.post<CallbackResult>(callbackUrl(a, 1), { raw: 'true', headers: { 'content-type': 'application/json' } });
    expect(t.status).toBe(200);
    expect(t.body.result).toBe('accepted');
    expect((await s.run(a.id)).attempts[0]).toMatchObject({ state: 'CallbackSuccess', isSuccess: true });
    // The same bare true again, without any content type, then as text/plain: the same body, so duplicates.
    const again = await s.post<CallbackResult>(callbackUrl(a, 1), { raw: 'true' });
    expect(again.status).toBe(200);
    expect(again.body.result).toBe('duplicate');
    const asText = await s.post<CallbackResult>(callbackUrl(a, 1), { raw: 'true', headers: { 'content-type': 'text/plain;charset=UTF-8' } });
    expect(asText.status).toBe(200);
    expect(asText.body.result).toBe('duplicate');

    const b = await awaiting(s, { retryLimit: 0 });
    const f = await s.post<CallbackResult>(callbackUrl(b, 1), { raw: 'false' });
    expect(f.status).toBe(200);
    expect(f.body.result).toBe('accepted');
    const failed = await s.run(b.id);
    expect(failed.status).toBe('failed');
    expect(failed.attempts[0]).toMatchObject({ state: 'CallbackFailure', isSuccess: false });

    const log = (await s.events(a.id)).filter((e) => e.type === 'callback.received');
    expect(log.map((e) => [e.verdict, e.httpStatus])).toEqual([
      ['applied', 200],
      ['duplicate', 200],
      ['duplicate', 200],
    ]);
  });
});

describe('200 duplicate and 409 conflict', () => {
  it('the same body again is a duplicate; a different body is a conflict; both recorded, the run unchanged', async () => {
    const run = await awaiting();
    const body = { success: true, message: 'done', output: { rows: 3, file: 'x.csv', parts: [{ a: 1, b: 2 }] } };
    expect((await s.post<CallbackResult>(callbackUrl(run, 1), { json: body })).body.result).toBe('accepted');
    const settled = await s.run(run.id);

    let dup!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const dupLog = await recorded(run.id, async () => (dup = await s.post<CallbackResult>(callbackUrl(run, 1), { json: body })));
    expect(dup.status).toBe(200);
    expect(dup.body).toMatchObject({
      result: 'duplicate',
      attemptId: run.attempts[0]!.id,
      attemptState: 'CallbackSuccess',
      endedAt: settled.attempts[0]!.endedAt,
    });
    expect(dupLog).toEqual([
      expect.objectContaining({
        type: 'callback.received',
        verdict: 'duplicate',
        httpStatus: 200,
        source: 'callback',
        attemptId: run.attempts[0]!.id,
      }),
    ]);

    // The same JSON with its keys in another order (a client re-serialising a map) is still the same body.
    const reordered = await s.post<CallbackResult>(callbackUrl(run, 1), {
      raw: '{"output":{"parts":[{"b":2,"a":1}],"file":"x.csv","rows":3},"message":"done","success":true}',
      headers: { 'content-type': 'application/json' },
    });
    expect(reordered.status).toBe(200);
    expect(reordered.body.result).toBe('duplicate');

    for (const different of [
      { success: false },
      { success: true, message: 'other' },
      { success: true, message: 'done', output: { rows: 4, file: 'x.csv', parts: [{ a: 1, b: 2 }] } },
      { success: true, message: 'done', output: { rows: 3, file: 'x.csv', parts: [{ b: 1, a: 2 }] } },
      true,
    ]) {
      let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
      const log = await recorded(run.id, async () => (res = await s.post<CallbackResult>(callbackUrl(run, 1), { json: different })));
      expect(res.status, JSON.stringify(different)).toBe(409);
      expect(res.body).toMatchObject({ result: 'conflict', attemptState: 'CallbackSuccess', endedAt: settled.attempts[0]!.endedAt });
      expect(log).toEqual([expect.objectContaining({ type: 'callback.received', verdict: 'conflict', httpStatus: 409, source: 'callback' })]);
    }
    const after = await s.run(run.id);
    expect(after.attempts).toEqual(settled.attempts);
    expect(after.status).toBe('succeeded');
  });
});

describe('410 late', () => {
  it('attempt 1 timed out, the run is in backoff: late, with the attempt state and when it ended', async () => {
    const run = await awaiting();
    await s.advance(60_000);
    expect((await s.run(run.id)).state).toBe('retrying');
    let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const log = await recorded(run.id, async () => (res = await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: true } })));
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ result: 'late', attemptId: run.attempts[0]!.id, attemptState: 'TimedOut', endedAt: iso(T0 + 60_000) });
    expect(log).toEqual([expect.objectContaining({ type: 'callback.received', verdict: 'late', httpStatus: 410, source: 'callback' })]);
    expect((await s.run(run.id)).state).toBe('retrying');
  });

  it('a callback for attempt 1 arriving after attempt 2 started is late and does not touch attempt 2', async () => {
    const run = await onAttempt2(await awaiting());
    let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const log = await recorded(run.id, async () => (res = await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: true } })));
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ result: 'late', attemptId: run.attempts[0]!.id, attemptState: 'TimedOut', endedAt: iso(T0 + 60_000) });
    expect(res.body.message).toMatch(/superseded by attempt 2/);
    expect(log).toEqual([expect.objectContaining({ type: 'callback.received', verdict: 'late', httpStatus: 410, attemptId: run.attempts[0]!.id })]);
    // Attempt 1's heartbeat is late as well.
    const hb = await s.post<CallbackResult>(heartbeatUrl(run, 1), { json: { progress: 100 } });
    expect(hb.status).toBe(410);
    expect(hb.body).toMatchObject({ result: 'late', attemptState: 'TimedOut', endedAt: iso(T0 + 60_000) });
    expect((await s.events(run.id)).at(-1)).toMatchObject({
      type: 'heartbeat.received',
      verdict: 'late',
      httpStatus: 410,
      attemptId: run.attempts[0]!.id,
    });

    const after = await s.run(run.id);
    expect(after.attempts).toEqual(run.attempts);
    expect(after.state).toBe('awaitingCallback');

    // Attempt 2's own callback still settles the run.
    const ok = await s.post<CallbackResult>(callbackUrl(run, 2), { json: { success: true } });
    expect(ok.body.result).toBe('accepted');
    expect((await s.run(run.id)).attempts.map((a) => a.state)).toEqual(['TimedOut', 'CallbackSuccess']);
  });

  it('the run was cancelled: late, attemptState Cancelled, endedAt the cancel time', async () => {
    const run = await awaiting();
    await s.advance(5_000);
    expect((await s.request('POST', `/api/runs/${run.id}/cancel`, { json: { reason: 'not needed' } })).status).toBe(200);
    const res = await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: true } });
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ result: 'late', attemptState: 'Cancelled', endedAt: iso(T0 + 5_000) });
    expect((await s.events(run.id)).at(-1)).toMatchObject({ type: 'callback.received', verdict: 'late', httpStatus: 410 });
    expect((await s.run(run.id)).status).toBe('cancelled');
  });

  it('the run failed (no retries left): late', async () => {
    const run = await awaiting(s, { retryLimit: 0 });
    await s.advance(60_000);
    expect((await s.run(run.id)).status).toBe('failed');
    const res = await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: true } });
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ result: 'late', attemptState: 'TimedOut', endedAt: iso(T0 + 60_000) });
    expect((await s.events(run.id)).at(-1)).toMatchObject({ type: 'callback.received', verdict: 'late', httpStatus: 410 });
  });
});

describe('401 unauthorized', () => {
  it('missing, wrong, another attempt’s and another run’s signatures are refused, recorded, and change nothing', async () => {
    const other = await awaiting();
    const run = await onAttempt2(await awaiting());
    const a1 = splitCallbackUrl(callbackUrl(run, 1));
    const a2 = splitCallbackUrl(callbackUrl(run, 2));
    const otherSig = splitCallbackUrl(callbackUrl(other, 1)).sig;
    const heartbeatSig = splitCallbackUrl(heartbeatUrl(run, 2)).sig;
    expect(new Set([a1.sig, a2.sig, otherSig, heartbeatSig]).size).toBe(4);

    const cases: Array<[string, string, RegExp]> = [
      ['no signature', a2.path, /Missing \?sig=/],
      ['an empty signature', `${a2.path}?sig=`, /Missing \?sig=/],
      ['a garbage signature', `${a2.path}?sig=not-a-signature`, /does not match/],
      ['attempt 2 signature truncated', `${a2.path}?sig=${a2.sig.slice(0, -1)}`, /does not match/],
      ['attempt 2 signature with a stray character', `${a2.path}?sig=${a2.sig}!`, /does not match/],
      ['the VALID signature of attempt 1 on attempt 2', `${a2.path}?sig=${a1.sig}`, /does not match/],
      ['the signature of another run', `${a2.path}?sig=${otherSig}`, /does not match/],
      ['attempt 2 heartbeat signature on its callback URL', `${a2.path}?sig=${heartbeatSig}`, /does not match/],
    ];
    for (const [what, path, message] of cases) {
      // One bad signature per interval: each is the first of its interval, so each is recorded at once with its own
      // message (later ones in the same interval are only counted: see 'a flood of forged callbacks' below).
      await s.advance(s.app.tether.settings.forgedLogIntervalMs);
      let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
      const log = await recorded(run.id, async () => (res = await s.post<CallbackResult>(path, { json: { success: true } })));
      expect(res.status, what).toBe(401);
      expect(res.body.result, what).toBe('unauthorized');
      expect(res.body.message, what).toMatch(message);
      expect(log, what).toEqual([
        expect.objectContaining({
          type: 'callback.received',
          verdict: 'unauthorized',
          httpStatus: 401,
          attemptId: run.attempts[1]!.id,
          source: 'callback',
        }),
      ]);
    }
    // Nothing moved: attempt 2 still waits, and its own URL still works.
    expect((await s.run(run.id)).attempts).toEqual(run.attempts);
    expect((await s.post<CallbackResult>(callbackUrl(run, 2), { json: { success: true } })).body.result).toBe('accepted');
    expect((await s.run(other.id)).state).toBe('awaitingCallback');
  });
});

describe('404 not found', () => {
  it('an unknown run is 404 and creates nothing', async () => {
    const res = await s.post<CallbackResult>('/api/callbacks/run_doesnotexist0000/att_doesnotexist0000_1?sig=abc', { json: { success: true } });
    expect(res.status).toBe(404);
    expect(res.body.result).toBe('not_found');
    expect((await s.request('GET', '/api/runs/run_doesnotexist0000')).status).toBe(404);
    const bad = await s.post<CallbackResult>('/api/callbacks/not-an-id/att_x_1?sig=abc', { json: { success: true } });
    expect(bad.status).toBe(404);
  });

  it('an unknown attempt of a known run (validly signed) is 404 and recorded', async () => {
    const run = await awaiting();
    const ghost = run.attempts[0]!.id.replace(/_1$/, '_9');
    const sig = s.app.tether.signer.sign(run.id, ghost);
    let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const log = await recorded(
      run.id,
      async () => (res = await s.post<CallbackResult>(`/api/callbacks/${run.id}/${ghost}?sig=${sig}`, { json: { success: true } })),
    );
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ result: 'not_found', attemptId: ghost });
    expect(log).toEqual([
      expect.objectContaining({ type: 'callback.received', verdict: 'not_found', httpStatus: 404, attemptId: ghost, source: 'callback' }),
    ]);
    expect((await s.run(run.id)).state).toBe('awaitingCallback');
  });
});

describe('400 malformed body', () => {
  it('each malformed body is refused saying what is wrong, recorded, and changes nothing', async () => {
    const run = await awaiting();
    const url = callbackUrl(run, 1);
    const json = { 'content-type': 'application/json' };
    const shape = /^\(body\) must be a JSON object \{ "success": true\|false.* or a bare true\/false$/;
    const cases: Array<[string, string, Record<string, string>, RegExp]> = [
      ['not JSON', '{"success": tru', json, /^body is not valid JSON/],
      ['not JSON, no content type', 'success=true', {}, /^body is not valid JSON/],
      ['not JSON, as text/plain', 'done!', { 'content-type': 'text/plain' }, /^body is not valid JSON/],
      ['success is a string', '{"success":"yes"}', json, /^success must be boolean$/],
      ['message is a number', '{"success":true,"message":5}', json, /^message must be string$/],
      ['retryable is a string', '{"success":false,"retryable":"no"}', json, /^retryable must be boolean$/],
      ['an extra field', '{"success":true,"extra":1}', json, /^extra is not a known field$/],
      ['success missing', '{"message":"done"}', json, /^success is required$/],
      ['a JSON string', '"true"', json, shape],
      ['an array', '[true]', json, shape],
      ['null', 'null', json, shape],
      ['an empty body', '', json, shape],
      ['a prototype-poisoning key', '{"success":true,"__proto__":{"x":1}}', json, /^body is not valid JSON: .*"__proto__"/],
    ];
    for (const [what, raw, headers, message] of cases) {
      let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
      const log = await recorded(run.id, async () => (res = await s.post<CallbackResult>(url, { raw, headers })));
      expect(res.status, what).toBe(400);
      expect(res.body.result, what).toBe('invalid');
      expect(res.body.message, what).toMatch(message);
      expect(log, what).toEqual([
        expect.objectContaining({
          type: 'callback.received',
          verdict: 'invalid',
          httpStatus: 400,
          attemptId: run.attempts[0]!.id,
          source: 'callback',
        }),
      ]);
    }
    expect((await s.run(run.id)).attempts).toEqual(run.attempts);
  });
});

describe('400 lists every field the body gets wrong', () => {
  it('in the CallbackResult shape, with fields; the message names the first', async () => {
    const run = await awaiting();
    let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const log = await recorded(
      run.id,
      async () => (res = await s.post<CallbackResult>(callbackUrl(run, 1), { json: { message: 5, retryable: 'no', extra: 1 } })),
    );
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ result: 'invalid', attemptId: run.attempts[0]!.id });
    // Judged as the object it is: no "must be boolean" from the bare-boolean form of a callback.
    expect(res.body.fields).toEqual(
      expect.arrayContaining([
        { path: 'success', message: 'is required' },
        { path: 'message', message: 'must be string' },
        { path: 'retryable', message: 'must be boolean' },
        { path: 'extra', message: 'is not a known field' },
      ]),
    );
    expect(res.body.fields).toHaveLength(4);
    const first = res.body.fields![0]!;
    expect(res.body.message!.startsWith(`${first.path} ${first.message}`)).toBe(true);
    expect(log).toEqual([expect.objectContaining({ verdict: 'invalid', httpStatus: 400, detail: res.body.message })]);
  });
});

describe('413 over the body limit', () => {
  it('is refused, recorded, and a small callback still works', async () => {
    await s.close();
    s = await startServer({ clock, env: { TETHER_BODY_LIMIT: '1024' } });
    expect(s.app.tether.settings.bodyLimit).toBe(1024);
    const run = await awaiting();
    const big = JSON.stringify({ success: true, message: 'x'.repeat(2000) });
    let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const log = await recorded(
      run.id,
      async () => (res = await s.post<CallbackResult>(callbackUrl(run, 1), { raw: big, headers: { 'content-type': 'application/json' } })),
    );
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ result: 'invalid', message: 'body is larger than the limit' });
    expect(log).toEqual([
      expect.objectContaining({ type: 'callback.received', verdict: 'invalid', httpStatus: 413, attemptId: run.attempts[0]!.id }),
    ]);
    expect((await s.run(run.id)).state).toBe('awaitingCallback');

    // Just under the limit is fine.
    const fits = JSON.stringify({ success: true, message: 'y'.repeat(900) });
    expect(Buffer.byteLength(fits)).toBeLessThan(1024);
    const ok = await s.post<CallbackResult>(callbackUrl(run, 1), { raw: fits, headers: { 'content-type': 'application/json' } });
    expect(ok.status).toBe(200);
    expect(ok.body.result).toBe('accepted');
  });
});

describe('413 over a field cap', () => {
  it('an output over TETHER_MAX_OUTPUT_BYTES (65536 by default, UTF-8 bytes of its JSON) is 413 naming it, recorded; one at the cap is accepted', async () => {
    const run = await awaiting();
    const url = callbackUrl(run, 1);
    expect(s.app.tether.settings.maxOutputBytes).toBe(65_536);
    const over = 'x'.repeat(65_535); // its JSON, quotes included, is 65 537 bytes
    let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const log = await recorded(run.id, async () => (res = await s.post<CallbackResult>(url, { json: { success: true, output: over } })));
    expect(res.status).toBe(413);
    expect(res.body).toEqual({
      result: 'invalid',
      attemptId: run.attempts[0]!.id,
      message: 'output is larger than the limit (65536 bytes)',
      fields: [{ path: 'output', message: 'is larger than the limit (65536 bytes)' }],
    });
    expect(log).toEqual([
      expect.objectContaining({
        type: 'callback.received',
        verdict: 'invalid',
        httpStatus: 413,
        attemptId: run.attempts[0]!.id,
        detail: 'output is larger than the limit (65536 bytes)',
      }),
    ]);
    expect((await s.run(run.id)).attempts).toEqual(run.attempts);

    const atTheCap = { rows: 'y'.repeat(65_536 - '{"rows":""}'.length) };
    expect(Buffer.byteLength(JSON.stringify(atTheCap))).toBe(65_536);
    const ok = await s.post<CallbackResult>(url, { json: { success: true, output: atTheCap } });
    expect(ok.body.result).toBe('accepted');
    expect((await s.run(run.id)).attempts[0]!.output).toEqual(atTheCap);
  });

  it('the cap counts UTF-8 bytes, not characters, and follows the setting', async () => {
    await s.close();
    s = await startServer({ clock, env: { TETHER_MAX_OUTPUT_BYTES: '1024' } });
    const run = await awaiting();
    const output = { note: 'é'.repeat(600) }; // 611 characters of JSON, 1 211 bytes
    expect(JSON.stringify(output).length).toBeLessThan(1024);
    const res = await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: false, output } });
    expect(res.status).toBe(413);
    expect(res.body.message).toBe('output is larger than the limit (1024 bytes)');
    expect((await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: false, output: { note: 'é'.repeat(500) } } })).body.result).toBe(
      'accepted',
    );
  });

  it('a message longer than 4096 characters is 413 naming it, recorded; 4096 is accepted', async () => {
    const run = await awaiting();
    let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const log = await recorded(
      run.id,
      async () => (res = await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: true, message: 'm'.repeat(4097) } })),
    );
    expect(res.status).toBe(413);
    expect(res.body).toEqual({
      result: 'invalid',
      attemptId: run.attempts[0]!.id,
      message: 'message is longer than the limit (4096 characters)',
      fields: [{ path: 'message', message: 'is longer than the limit (4096 characters)' }],
    });
    expect(log).toEqual([
      expect.objectContaining({
        type: 'callback.received',
        verdict: 'invalid',
        httpStatus: 413,
        detail: 'message is longer than the limit (4096 characters)',
      }),
    ]);
    expect((await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: true, message: 'm'.repeat(4096) } })).body.result).toBe('accepted');
  });

  it('a heartbeat progress over the cap is 413 naming it, recorded, and does not count as a heartbeat', async () => {
    await s.close();
    s = await startServer({ clock, env: { TETHER_MAX_OUTPUT_BYTES: '1024' } });
    const run = await awaiting(s, { heartbeatTimeoutSeconds: 10 });
    await s.advance(2_000);
    let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const log = await recorded(
      run.id,
      async () => (res = await s.post<CallbackResult>(heartbeatUrl(run, 1), { json: { progress: { log: 'z'.repeat(1100) } } })),
    );
    expect(res.status).toBe(413);
    expect(res.body).toEqual({
      result: 'invalid',
      attemptId: run.attempts[0]!.id,
      message: 'progress is larger than the limit (1024 bytes)',
      fields: [{ path: 'progress', message: 'is larger than the limit (1024 bytes)' }],
    });
    expect(log).toEqual([expect.objectContaining({ type: 'heartbeat.received', verdict: 'invalid', httpStatus: 413 })]);
    expect((await s.run(run.id)).attempts[0]).toMatchObject({ lastHeartbeatAt: null, heartbeatDue: iso(T0 + 10_000) });
    expect((await s.post<CallbackResult>(heartbeatUrl(run, 1), { json: { progress: { log: 'z'.repeat(100) } } })).body.result).toBe('accepted');
  });

  it('the operator route (complete) has the same caps: 413 TETHER_FIELD_TOO_LARGE naming the field; other errors stay 400', async () => {
    await s.close();
    s = await startServer({ clock, env: { TETHER_MAX_OUTPUT_BYTES: '1024' } });
    const run = await awaiting();
    const complete = (json: unknown, attemptId = run.attempts[0]!.id) =>
      s.request<ErrorBody>('POST', `/api/runs/${run.id}/attempts/${attemptId}/complete`, { json });
    const big = await complete({ success: true, output: ['w'.repeat(1100)] });
    expect(big.status).toBe(413);
    expect(big.body.error).toEqual({
      code: 'TETHER_FIELD_TOO_LARGE',
      message: 'output is larger than the limit (1024 bytes)',
      fields: [{ path: 'output', message: 'is larger than the limit (1024 bytes)' }],
    });
    const long = await complete({ success: true, message: 'm'.repeat(4097) });
    expect(long.status).toBe(413);
    expect(long.body.error).toEqual({
      code: 'TETHER_FIELD_TOO_LARGE',
      message: 'message is longer than the limit (4096 characters)',
      fields: [{ path: 'message', message: 'is longer than the limit (4096 characters)' }],
    });
    // Every other schema error is the usual 400, naming its field.
    expect((await complete({ message: 'no success' })).body.error).toEqual({
      code: 'TETHER_VALIDATION',
      message: 'success is required',
      fields: [{ path: 'success', message: 'is required' }],
    });
    expect((await complete({ success: true, extra: 1 })).body.error).toEqual({
      code: 'TETHER_VALIDATION',
      message: 'extra is not a known field',
      fields: [{ path: 'extra', message: 'is not a known field' }],
    });
    // A message over its cap alongside another error is a 400 listing both, not a 413 that would hide the other.
    const both = await complete({ success: 'yes', message: 'm'.repeat(4097) });
    expect(both.status).toBe(400);
    expect(both.body.error.fields).toEqual(
      expect.arrayContaining([
        { path: 'success', message: 'must be boolean' },
        { path: 'message', message: 'must not have more than 4096 characters' },
      ]),
    );
    const badId = await complete({ success: true }, 'not-an-attempt');
    expect(badId.status).toBe(400);
    expect(badId.body.error.message).toMatch(/^attemptId /);
    expect((await s.run(run.id)).attempts).toEqual(run.attempts);
    const ok = await complete({ success: true, message: 'm'.repeat(4096), output: ['w'.repeat(1000)] });
    expect(ok.status).toBe(200);
  });
});

describe('a flood of forged callbacks', () => {
  const journalBytes = async (server: TestServer): Promise<number> => {
    const dir = join(server.dataDir, 'journal');
    let n = 0;
    for (const f of await readdir(dir)) n += (await stat(join(dir, f))).size;
    return n;
  };

  it('500 to one run cost O(1) durable writes: 401, then 429 over the limit; a valid callback still lands; one summary when the interval ends', async () => {
    const run = await awaiting();
    const other = await awaiting();
    const { path } = splitCallbackUrl(callbackUrl(run, 1));
    const { forgedLogIntervalMs: interval, forgedRateLimit: limit } = s.app.tether.settings;
    expect([interval, limit]).toEqual([1000, 20]);
    await s.idle();
    const eventsBefore = (await s.events(run.id)).length;
    const bytesBefore = await journalBytes(s);

    const answers: Array<Awaited<ReturnType<typeof s.post<CallbackResult>>>> = [];
    let valid!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    for (let i = 0; i < 500; i += 25) {
      const batch = Array.from({ length: 25 }, (_, j) => s.post<CallbackResult>(`${path}?sig=forged${i + j}`, { json: { success: true } }));
      answers.push(...(await Promise.all(batch)));
      // The genuine callback in the middle of the flood: never rate limited.
      if (i === 250) valid = await s.post<CallbackResult>(callbackUrl(run, 1), { json: { success: true, message: 'real' } });
    }
    expect(valid.status).toBe(200);
    expect(valid.body.result).toBe('accepted');
    const byStatus = (st: number) => answers.filter((a) => a.status === st);
    expect(answers).toHaveLength(500);
    expect(byStatus(401)).toHaveLength(limit);
    expect(byStatus(429)).toHaveLength(500 - limit);
    for (const a of byStatus(401)) expect(a.body).toMatchObject({ result: 'unauthorized', attemptId: run.attempts[0]!.id });
    for (const a of byStatus(429)) {
      expect(a.body).toMatchObject({ result: 'rate_limited', attemptId: run.attempts[0]!.id });
      expect(a.body.message).toMatch(/more than 20 in 1 s for this run/);
      expect(a.headers.get('retry-after')).toBe('1');
    }

    // The same address is over its limit too: a forged callback to another run is refused at once, and not recorded.
    const elsewhere = await s.post<CallbackResult>(`${splitCallbackUrl(callbackUrl(other, 1)).path}?sig=forged`, { json: { success: true } });
    expect(elsewhere.status).toBe(429);
    expect(elsewhere.body.message).toMatch(/from this address/);
    expect((await s.post<CallbackResult>(callbackUrl(other, 1), { json: { success: true } })).body.result).toBe('accepted');

    // O(1) entries, not 500: the first bad signature (recorded at once, as before) and the accepted callback.
    await s.idle();
    const added = (await s.events(run.id)).slice(eventsBefore);
    expect(added.map((e) => [e.type, e.verdict, e.httpStatus])).toEqual([
      ['callback.received', 'unauthorized', 401],
      ['callback.received', 'applied', 200],
    ]);
    // On disk: the journal grew by those commits (plus the other run's two), a few KB, not 500 run documents.
    const doc = await readDurable(s.dataDir, run.id);
    expect(doc!.events).toEqual(await s.events(run.id));
    const grown = (await journalBytes(s)) - bytesBefore;
    expect(grown).toBeLessThan(5 * JSON.stringify(doc).length);

    // The interval ends: one summary entry per run, with the count and the last attempt.
    await s.advance(interval);
    const summary = (await s.events(run.id)).slice(eventsBefore + added.length);
    expect(summary).toEqual([
      expect.objectContaining({
        type: 'callback.received',
        verdict: 'unauthorized',
        httpStatus: 429,
        attemptId: run.attempts[0]!.id,
        source: 'callback',
        detail: `499 more callbacks with a bad signature in the last 1 s (${500 - limit} of them refused with 429 rate_limited); the last from attempt ${run.attempts[0]!.id}.`,
      }),
    ]);
    expect((await s.events(other.id)).filter((e) => e.verdict === 'unauthorized').map((e) => e.detail)).toEqual([
      `1 callback with a bad signature in the last 1 s (1 of them refused with 429 rate_limited); the last from attempt ${other.attempts[0]!.id}.`,
    ]);
    expect(s.app.tether.forged.trackedRuns).toBe(0);

    // A new interval: the next bad signature is answered 401 and recorded at once again.
    const next = await s.post<CallbackResult>(`${path}?sig=again`, { json: { success: true } });
    expect(next.status).toBe(401);
    await s.idle();
    expect((await s.events(run.id)).at(-1)).toMatchObject({
      verdict: 'unauthorized',
      httpStatus: 401,
      detail: 'Signature does not match this run and attempt.',
    });
  });
});

describe('heartbeats', () => {
  it('an accepted heartbeat extends heartbeatDue and records progress; a late one is 410', async () => {
    const run = await awaiting(s, { heartbeatTimeoutSeconds: 10 });
    expect(run.attempts[0]!.heartbeatDue).toBe(iso(T0 + 10_000));
    await s.advance(5_000);

    let res!: Awaited<ReturnType<typeof s.post<CallbackResult>>>;
    const log = await recorded(
      run.id,
      async () => (res = await s.post<CallbackResult>(heartbeatUrl(run, 1), { json: { progress: { percent: 40 } } })),
    );
    expect(res.status).toBe(200);
    expect(res.body.result).toBe('accepted');
    expect(log).toEqual([expect.objectContaining({ type: 'heartbeat.received', verdict: 'applied', httpStatus: 200, source: 'callback' })]);
    let r = await s.run(run.id);
    expect(r.attempts[0]).toMatchObject({ heartbeatDue: iso(T0 + 15_000), lastHeartbeatAt: iso(T0 + 5_000), progress: { percent: 40 } });
    expect(r.nextDueAt).toBe(iso(T0 + 15_000));

    // An empty heartbeat is fine too, and moves the deadline again.
    await s.advance(4_000);
    expect((await s.post<CallbackResult>(heartbeatUrl(run, 1))).body.result).toBe('accepted');
    r = await s.run(run.id);
    expect(r.attempts[0]!.heartbeatDue).toBe(iso(T0 + 19_000));

    // Past the original 10 s and the first extension: still waiting.
    await s.advance(9_999);
    expect((await s.run(run.id)).attempts[0]!.state).toBe('AwaitingCallback');
    await s.advance(1);
    r = await s.run(run.id);
    expect(r.attempts[0]!.state).toBe('HeartbeatTimedOut');

    const late = await s.post<CallbackResult>(heartbeatUrl(run, 1), { json: { progress: 99 } });
    expect(late.status).toBe(410);
    expect(late.body).toMatchObject({ result: 'late', attemptState: 'HeartbeatTimedOut', endedAt: iso(T0 + 19_000) });
    expect((await s.events(run.id)).at(-1)).toMatchObject({ type: 'heartbeat.received', verdict: 'late', httpStatus: 410 });
  });

  it('the heartbeat signature is not the callback signature: each refused on the other URL', async () => {
    const run = await awaiting(s, { heartbeatTimeoutSeconds: 10 });
    const cb = splitCallbackUrl(callbackUrl(run, 1));
    const hb = splitCallbackUrl(heartbeatUrl(run, 1));
    expect(hb.path).toBe(`${cb.path}/heartbeat`);
    expect(hb.sig).not.toBe(cb.sig);

    // One per interval, so each is the first of its interval and recorded at once (not folded into a summary).
    const interval = s.app.tether.settings.forgedLogIntervalMs;
    const log = await recorded(run.id, async () => {
      const a = await s.post<CallbackResult>(`${hb.path}?sig=${cb.sig}`, { json: { progress: 1 } });
      expect(a.status).toBe(401);
      expect(a.body.result).toBe('unauthorized');
      await s.advance(interval);
      const b = await s.post<CallbackResult>(`${cb.path}?sig=${hb.sig}`, { json: { success: true } });
      expect(b.status).toBe(401);
      await s.advance(interval);
      const c = await s.post<CallbackResult>(hb.path, { json: { progress: 1 } });
      expect(c.status).toBe(401);
    });
    expect(log.map((e) => [e.type, e.verdict, e.httpStatus])).toEqual([
      ['heartbeat.received', 'unauthorized', 401],
      ['callback.received', 'unauthorized', 401],
      ['heartbeat.received', 'unauthorized', 401],
    ]);
    const r = await s.run(run.id);
    expect(r.attempts[0]).toMatchObject({ state: 'AwaitingCallback', lastHeartbeatAt: null });
  });

  it('a malformed heartbeat body is 400 and recorded', async () => {
    const run = await awaiting(s, { heartbeatTimeoutSeconds: 10 });
    const log = await recorded(run.id, async () => {
      const a = await s.post<CallbackResult>(heartbeatUrl(run, 1), { json: { progress: 1, extra: true } });
      expect(a.status).toBe(400);
      expect(a.body.message).toMatch(/extra/);
      const b = await s.post<CallbackResult>(heartbeatUrl(run, 1), { raw: '{nope', headers: { 'content-type': 'application/json' } });
      expect(b.status).toBe(400);
    });
    expect(log.map((e) => [e.type, e.verdict, e.httpStatus])).toEqual([
      ['heartbeat.received', 'invalid', 400],
      ['heartbeat.received', 'invalid', 400],
    ]);
  });
});
