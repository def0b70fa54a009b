/**
 * The runs API through a real listening server: validation that names the field, reading, listing and paging, cancel,
 * retry-now, operator complete/timeout, rerun. A real fake external system on loopback; time is a ManualClock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveRunConfig, type ErrorBody, type Run, type RunConfig, type RunSummary } from '@tether/machine';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { startServer, type TestServer } from './helpers/http-app.ts';
import { MAX_FIELDS } from '../src/plugins/errors.ts';

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

async function awaiting(cfg: Partial<RunConfig> = {}): Promise<Run> {
  const created = await s.createRun({ target: { url: ext.url }, ...cfg });
  await s.idle();
  const run = await s.run(created.id);
  expect(run.state).toBe('awaitingCallback');
  return run;
}

describe('POST /api/runs', () => {
  it('201 with the Run and a Location header; the trigger reaches the external system', async () => {
    const res = await s.request<Run>('POST', '/api/runs', {
      json: {
        name: 'nightly export',
        target: { url: ext.url, headers: { Authorization: 'Bearer xyz' } },
        payload: { n: 1 },
        timeoutSeconds: 60,
        retryLimit: 2,
      },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/api/runs/${res.body.id}`);
    expect(res.body).toMatchObject({
      name: 'nightly export',
      status: 'running',
      state: 'triggering',
      maxAttempts: 3,
      createdAt: iso(T0),
      rerunOf: null,
      config: {
        payload: { n: 1 },
        timeoutSeconds: 60,
        retryLimit: 2,
        target: { url: ext.url, method: 'POST', headers: { Authorization: '<redacted>' } },
      },
    });
    expect(res.body.id).toMatch(/^run_/);
    expect(res.body.attempts).toHaveLength(1);
    expect(res.body.attempts[0]).toMatchObject({ number: 1, state: 'Triggering', started: iso(T0), timeoutDue: iso(T0 + 60_000), isSuccess: false });
    expect(res.body.attempts[0]!.callbackUrl).toBe(
      `${s.base}/api/callbacks/${res.body.id}/${res.body.attempts[0]!.id}?sig=${s.app.tether.signer.sign(res.body.id, res.body.attempts[0]!.id)}`,
    );

    const t = await ext.waitFor(1);
    expect(t.headers.authorization).toBe('Bearer xyz');
    expect(t.body).toMatchObject({
      runId: res.body.id,
      attemptId: res.body.attempts[0]!.id,
      attempt: 1,
      payload: { n: 1 },
      callbackUrl: res.body.attempts[0]!.callbackUrl,
    });
    await s.idle();
    expect((await s.run(res.body.id)).state).toBe('awaitingCallback');
  });

  it('every invalid config is 400 naming the field, and creates nothing', async () => {
    const target = { url: ext.url };
    const ok = { target, timeoutSeconds: 5, retryLimit: 1 };
    const cases: Array<[string, unknown, string]> = [
      ['timeoutSeconds negative', { ...ok, timeoutSeconds: -1 }, 'timeoutSeconds must be > 0'],
      ['timeoutSeconds zero', { ...ok, timeoutSeconds: 0 }, 'timeoutSeconds must be > 0'],
      ['timeoutSeconds as the string "5"', { ...ok, timeoutSeconds: '5' }, 'timeoutSeconds must be number'],
      ['timeoutSeconds missing', { target, retryLimit: 1 }, 'timeoutSeconds is required'],
      ['retryLimit fractional', { ...ok, retryLimit: 1.5 }, 'retryLimit must be integer'],
      ['retryLimit negative', { ...ok, retryLimit: -1 }, 'retryLimit must be >= 0'],
      ['retryLimit as the string "3"', { ...ok, retryLimit: '3' }, 'retryLimit must be integer'],
      ['target missing', { timeoutSeconds: 5, retryLimit: 1 }, 'target is required'],
      ['target.url not a URL', { ...ok, target: { url: 'not a url' } }, 'target.url must be an absolute URL'],
      ['target.url not http', { ...ok, target: { url: 'ftp://example.com/x' } }, 'target.url must use http or https'],
      [
        'target.url with credentials',
        { ...ok, target: { url: 'http://u:p@example.com/' } },
        'target.url must not carry credentials; use target.headers',
      ],
      ['target.url empty', { ...ok, target: { url: '' } }, 'target.url'],
      ['target.method GET', { ...ok, target: { url: ext.url, method: 'GET' } }, 'target.method must be one of'],
      [
        'target.headers reserved',
        { ...ok, target: { url: ext.url, headers: { 'Idempotency-Key': 'x' } } },
        'target.headers.Idempotency-Key is set by Tether',
      ],
      ['backoff.maxSeconds negative', { ...ok, backoff: { maxSeconds: -1 } }, 'backoff.maxSeconds must be >= 0'],
      [
        'backoff.maxSeconds below initialSeconds',
        { ...ok, backoff: { initialSeconds: 10, maxSeconds: 5 } },
        'backoff.maxSeconds must be >= backoff.initialSeconds',
      ],
      ['backoff.jitter value', { ...ok, backoff: { jitter: 'sometimes' } }, 'backoff.jitter must be one of'],
      ['unknown top-level field', { ...ok, bogus: true }, 'bogus is not a known field'],
      ['unknown nested field', { ...ok, target: { url: ext.url, foo: 1 } }, 'target.foo is not a known field'],
      ['an array body', [ok], '(body)'],
      ['a null body', null, '(body)'],
    ];
    for (const [what, body, message] of cases) {
      const res = await s.request<ErrorBody>('POST', '/api/runs', { raw: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      expect(res.status, what).toBe(400);
      expect(res.body.error.code, what).toBe('TETHER_VALIDATION');
      expect(res.body.error.message, what).toContain(message);
    }
    const jitter = await s.request<ErrorBody>('POST', '/api/runs', { json: { ...ok, backoff: { jitter: 'sometimes' } } });
    for (const allowed of ['none', 'full', 'equal']) expect(jitter.body.error.message).toContain(allowed);

    const notJson = await s.request<ErrorBody>('POST', '/api/runs', { raw: '{"target":', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toEqual({ code: 'TETHER_INVALID_JSON', message: 'body is not valid JSON: it does not parse' });

    expect((await s.request<{ runs: RunSummary[] }>('GET', '/api/runs')).body.runs).toEqual([]);
    expect(ext.received).toHaveLength(0);
  });
});

describe('400s list every field at once', () => {
  const post = (body: unknown) => s.request<ErrorBody>('POST', '/api/runs', { json: body });

  it('a typo is reported as unknown even when required fields are missing too; the message names the first', async () => {
    const res = await post({ target: { url: ext.url }, timout: 60 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('TETHER_VALIDATION');
    expect(res.body.error.fields).toEqual(
      expect.arrayContaining([
        { path: 'timout', message: 'is not a known field' },
        { path: 'timeoutSeconds', message: 'is required' },
        { path: 'retryLimit', message: 'is required' },
      ]),
    );
    expect(res.body.error.fields).toHaveLength(3);
    const first = res.body.error.fields![0]!;
    expect(res.body.error.message.startsWith(`${first.path} ${first.message}`)).toBe(true);
  });

  it('schema errors and the config rules together: backoff.maxSeconds >= initialSeconds, sendable headers', async () => {
    const res = await post({
      target: { url: ext.url, headers: { 'X-Foo': 'a\u0001', 'Idempotency-Key': 'k', 'X-N': 5 } },
      timeoutSeconds: 0,
      retryLimit: 1,
      bogus: true,
      backoff: { initialSeconds: 10, maxSeconds: 5, jitter: 'sometimes' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual(
      expect.arrayContaining([
        { path: 'target.headers.X-Foo', message: 'value contains a control character (U+0001 at position 1)' },
        { path: 'target.headers.Idempotency-Key', message: 'is set by Tether and cannot be overridden' },
        { path: 'target.headers.X-N', message: 'must be string' },
        { path: 'backoff.maxSeconds', message: 'must be >= backoff.initialSeconds' },
        { path: 'backoff.jitter', message: 'must be one of "none", "full", "equal"' },
        { path: 'timeoutSeconds', message: 'must be > 0' },
        { path: 'bogus', message: 'is not a known field' },
      ]),
    );
    expect(res.body.error.fields).toHaveLength(7);
    // A readable summary: the first three, then how many more.
    expect(res.body.error.message).toMatch(/^target\.headers\.\S+ .+; .+; .+; and 4 more$/);
    expect((await s.request<{ runs: RunSummary[] }>('GET', '/api/runs')).body.runs).toEqual([]);
  });

  it('query parameters are named under query.', async () => {
    const res = await s.request<ErrorBody>('GET', '/api/runs?status=bogus&limit=abc&extra=1');
    expect(res.status).toBe(400);
    expect(res.body.error.fields?.map((f) => f.path).sort()).toEqual(['query.extra', 'query.limit', 'query.status']);
    expect((await s.request<ErrorBody>('GET', '/api/runs?limit=0')).body.error.fields).toEqual([
      { path: 'query.limit', message: 'must be between 1 and 500' },
    ]);
  });

  it('an operator body lists each of its errors too', async () => {
    const run = await awaiting();
    const res = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/attempts/${run.attempts[0]!.id}/complete`, {
      json: { message: 7, extra: 1 },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual(
      expect.arrayContaining([
        { path: 'success', message: 'is required' },
        { path: 'message', message: 'must be string' },
        { path: 'extra', message: 'is not a known field' },
      ]),
    );
    expect(res.body.error.fields).toHaveLength(3);
  });

  it('past eight errors (TypeBox’s default buffer), and at most MAX_FIELDS in the body, the message saying how many', async () => {
    const run = await awaiting();
    const complete = (json: unknown) => s.request<ErrorBody>('POST', `/api/runs/${run.id}/attempts/${run.attempts[0]!.id}/complete`, { json });
    const twelve = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`extra${i}`, i]));
    const some = await complete({ success: true, ...twelve });
    expect(some.body.error.fields?.map((f) => f.path).sort()).toEqual(Object.keys(twelve).sort());
    expect(some.body.error.message).toMatch(/; and 9 more$/);

    const flood = await complete({ success: true, ...Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`x${i}`, i])) });
    expect(flood.status).toBe(400);
    expect(flood.body.error.fields).toHaveLength(MAX_FIELDS);
    const more = Number(/; and (\d+) more$/.exec(flood.body.error.message)?.[1]);
    expect(more).toBeGreaterThanOrEqual(MAX_FIELDS - 3);
  });

  it('errors that are not about fields carry none', async () => {
    const res = await s.request<ErrorBody>('GET', '/api/runs/run_doesnotexist');
    expect(res.body.error).toEqual({ code: 'TETHER_RUN_NOT_FOUND', message: 'Run run_doesnotexist does not exist.' });
  });
});

describe('target headers the trigger could not send', () => {
  // Each would make the HTTP client throw (or silently change the request) on every attempt: refused at creation with
  // 400 naming the header, instead of 201 followed by attempts that all end TriggerFailed. (Names that are not RFC 9110
  // tokens and the headers Tether sets were refused before; the machine's config tests list those.)
  const bad: Array<[string, Record<string, string>, string]> = [
    ['CR LF in a value', { 'X-Foo': 'a\r\nX-Injected: 1' }, 'target.headers.X-Foo value contains a control character (U+000D at position 1)'],
    ['NUL in a value', { 'X-Foo': 'a\u0000' }, 'target.headers.X-Foo value contains a control character (U+0000 at position 1)'],
    ['ESC in a value', { 'X-Foo': '\u001b[31m' }, 'target.headers.X-Foo value contains a control character (U+001B at position 0)'],
    ['DEL in a value', { 'X-Foo': 'ab\u007f' }, 'target.headers.X-Foo value contains a control character (U+007F at position 2)'],
    [
      'a non-Latin-1 character',
      { 'X-Foo': 'price €5' },
      'target.headers.X-Foo value contains a character outside Latin-1 (U+20AC at position 6); header values are bytes',
    ],
    ['an emoji', { 'X-Foo': '💥' }, 'target.headers.X-Foo value contains a character outside Latin-1 (U+1F4A5 at position 0)'],
    ['an empty name', { '': 'v' }, 'target.headers has a header with an empty name'],
    ['Host', { Host: 'internal.example' }, 'target.headers.Host is managed by the HTTP client and cannot be set per run'],
    ['Content-Length', { 'Content-Length': '3' }, 'target.headers.Content-Length is managed by the HTTP client and cannot be set per run'],
    [
      'Transfer-Encoding',
      { 'Transfer-Encoding': 'chunked' },
      'target.headers.Transfer-Encoding is managed by the HTTP client and cannot be set per run',
    ],
    ['Connection', { connection: 'close' }, 'target.headers.connection is managed by the HTTP client and cannot be set per run'],
    [
      'the same name in two cases',
      { 'X-Key': 'a', 'x-key': 'b' },
      'target.headers.x-key repeats target.headers.X-Key (header names are case-insensitive)',
    ],
  ];

  it.each(bad)('%s: 400 naming the header, nothing created, nothing sent', async (_what, headers, message) => {
    const res = await s.request<ErrorBody>('POST', '/api/runs', { json: { target: { url: ext.url, headers }, timeoutSeconds: 5, retryLimit: 1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('TETHER_VALIDATION');
    expect(res.body.error.message).toContain(message);
    expect((await s.request<{ runs: RunSummary[] }>('GET', '/api/runs')).body.runs).toEqual([]);
    await s.idle();
    expect(ext.received).toHaveLength(0);
  });

  it('headers the HTTP client can send are accepted and reach the target as given', async () => {
    const headers = { Authorization: 'Bearer abc', 'X-Tab': 'a\tb', 'X-Latin1': 'café', "X-Token!#$%&'*+.^_`|~": 'v', 'X-Empty': '' };
    const res = await s.request<Run>('POST', '/api/runs', { json: { target: { url: ext.url, headers }, timeoutSeconds: 5, retryLimit: 1 } });
    expect(res.status).toBe(201);
    const t = await ext.waitFor(1);
    // Node's HTTP parser reads header bytes as Latin-1: é arrives as the one byte 0xE9 it was sent as.
    expect(t.headers).toMatchObject({
      authorization: 'Bearer abc',
      'x-tab': 'a\tb',
      'x-latin1': 'café',
      "x-token!#$%&'*+.^_`|~": 'v',
      'x-empty': '',
    });
    expect(t.headers['content-type']).toBe('application/json');
    expect(t.headers['idempotency-key']).toBe(res.body.attempts[0]!.id);
    await s.idle();
    expect((await s.run(res.body.id)).attempts[0]!.state).toBe('AwaitingCallback');
  });

  it('a re-run is checked like a new run: a stored run with a header the HTTP client refuses (made before the check) is not re-run', async () => {
    // As a run created by an older version would be stored: straight into the engine, past the API's checks.
    const old = await s.app.tether.engine.createRun(
      resolveRunConfig({ target: { url: ext.url, headers: { 'X-Foo': 'a\u0001b' } }, timeoutSeconds: 5, retryLimit: 0 }),
    );
    const res = await s.request<ErrorBody>('POST', `/api/runs/${old.id}/rerun`);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({
      code: 'TETHER_VALIDATION',
      message: 'target.headers.X-Foo value contains a control character (U+0001 at position 1)',
      fields: [{ path: 'target.headers.X-Foo', message: 'value contains a control character (U+0001 at position 1)' }],
    });
    expect((await s.request<{ runs: RunSummary[] }>('GET', '/api/runs')).body.runs.map((r) => r.id)).toEqual([old.id]);
  });
});

describe('reading', () => {
  it('GET /api/runs/:id: 404 for an unknown run, 400 naming id for a malformed one', async () => {
    const unknown = await s.request<ErrorBody>('GET', '/api/runs/run_doesnotexist');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toEqual({ code: 'TETHER_RUN_NOT_FOUND', message: 'Run run_doesnotexist does not exist.' });
    const malformed = await s.request<ErrorBody>('GET', '/api/runs/not-a-run');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/^id /);
    for (const path of ['/events', '/cancel', '/retry-now', '/rerun']) {
      const res = await s.request<ErrorBody>(path === '/events' ? 'GET' : 'POST', `/api/runs/run_doesnotexist${path}`);
      expect(res.status, path).toBe(404);
      expect(res.body.error.code, path).toBe('TETHER_RUN_NOT_FOUND');
    }
  });

  it('GET /api/runs: newest first, cursor paging, status and name filters; query validation names the field', async () => {
    const names = ['alpha one', 'beta two', 'alpha three', 'gamma four', 'Alpha five'];
    const ids: string[] = [];
    for (const name of names) {
      ids.push((await s.createRun({ name, target: { url: ext.url } })).id);
      clock.advance(1);
    }
    await s.idle();
    // Cancel two of them, so the status filter has something to tell apart.
    for (const id of [ids[1]!, ids[3]!]) expect((await s.request('POST', `/api/runs/${id}/cancel`)).status).toBe(200);
    const newestFirst = ids.slice().reverse();

    const all = await s.request<{ runs: RunSummary[]; nextCursor: string | null }>('GET', '/api/runs');
    expect(all.status).toBe(200);
    expect(all.body.runs.map((r) => r.id)).toEqual(newestFirst);
    expect(all.body.nextCursor).toBeNull();

    const paged: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/api/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await s.request<{ runs: RunSummary[]; nextCursor: string | null }>('GET', q);
      expect(page.status).toBe(200);
      expect(page.body.runs.length).toBeLessThanOrEqual(2);
      paged.push(...page.body.runs.map((r) => r.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(paged).toEqual(newestFirst);

    const cancelled = await s.request<{ runs: RunSummary[] }>('GET', '/api/runs?status=cancelled');
    expect(cancelled.body.runs.map((r) => r.id)).toEqual([ids[3], ids[1]]);
    const running = await s.request<{ runs: RunSummary[] }>('GET', '/api/runs?status=running');
    expect(running.body.runs.map((r) => r.id)).toEqual([ids[4], ids[2], ids[0]]);
    const alpha = await s.request<{ runs: RunSummary[] }>('GET', '/api/runs?name=ALPHA');
    expect(alpha.body.runs.map((r) => r.name)).toEqual(['Alpha five', 'alpha three', 'alpha one']);
    const both = await s.request<{ runs: RunSummary[]; nextCursor: string | null }>('GET', '/api/runs?name=alpha&status=running&limit=1');
    expect(both.body.runs.map((r) => r.name)).toEqual(['Alpha five']);
    expect(both.body.nextCursor).toBe(ids[4]);

    const bad: Array<[string, string]> = [
      ['limit=0', 'query.limit must be between 1 and 500'],
      ['limit=501', 'query.limit must be between 1 and 500'],
      ['limit=abc', 'query.limit'],
      ['limit=-1', 'query.limit'],
      ['status=bogus', 'query.status must be one of'],
      ['bogus=1', 'bogus is not a known field'],
    ];
    for (const [q, message] of bad) {
      const res = await s.request<ErrorBody>('GET', `/api/runs?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.code, q).toBe('TETHER_VALIDATION');
      expect(res.body.error.message, q).toContain(message);
    }
  });
});

describe('cancel', () => {
  it('200 with the cancelled Run, then 409 once final', async () => {
    const run = await awaiting();
    clock.advance(2_000);
    const res = await s.request<Run>('POST', `/api/runs/${run.id}/cancel`, { json: { reason: 'wrong input' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'cancelled',
      state: 'cancelled',
      finishedAt: iso(T0 + 2_000),
      overallState: 'Cancelled during attempt 1: wrong input',
    });
    expect(res.body.attempts[0]).toMatchObject({ state: 'Cancelled', endedAt: iso(T0 + 2_000) });
    expect((await s.events(run.id)).at(-1)).toMatchObject({ type: 'run.cancel', source: 'api', verdict: 'applied' });

    const again = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('TETHER_RUN_FINAL');
    expect(again.body.error.message).toContain('cancelled');
    expect((await s.events(run.id)).at(-1)).toMatchObject({ type: 'run.cancel', source: 'api', verdict: 'rejected' });

    const bad = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/cancel`, { json: { reason: 5 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe('reason must be string');
  });

  it('409 for a run that already succeeded', async () => {
    const run = await awaiting();
    expect((await s.post(run.attempts[0]!.callbackUrl!, { json: { success: true } })).status).toBe(200);
    const res = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain('succeeded');
  });
});

describe('retry-now', () => {
  it('409 unless the run is in backoff; 200 in backoff, opening the next attempt now', async () => {
    const run = await awaiting({ backoff: { initialSeconds: 30 } });
    const waiting = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/retry-now`);
    expect(waiting.status).toBe(409);
    expect(waiting.body.error.code).toBe('TETHER_NOT_IN_BACKOFF');
    expect(waiting.body.error.message).toContain('awaitingCallback');

    await s.advance(60_000);
    const inBackoff = await s.run(run.id);
    expect(inBackoff.state).toBe('retrying');
    expect(inBackoff.retryDue).toBe(iso(T0 + 90_000));

    await s.advance(5_000);
    const res = await s.request<Run>('POST', `/api/runs/${run.id}/retry-now`);
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('triggering');
    expect(res.body.attempts).toHaveLength(2);
    // The attempt opens at the server's clock, not 25 s later when the backoff would have ended.
    expect(res.body.attempts[1]).toMatchObject({ number: 2, state: 'Triggering', started: iso(T0 + 65_000), timeoutDue: iso(T0 + 125_000) });
    expect((await s.events(run.id)).filter((e) => e.type === 'run.retryNow').map((e) => [e.source, e.verdict])).toEqual([
      ['api', 'rejected'],
      ['api', 'applied'],
    ]);
    const t2 = await ext.waitFor(2);
    expect(t2.body.attempt).toBe(2);
    await s.idle();

    // Attempt 2's own timeout fires on the same clock.
    await s.advance(60_000);
    expect((await s.run(run.id)).attempts.map((a) => a.state)).toEqual(['TimedOut', 'TimedOut']);

    const final = await awaiting({ retryLimit: 0 });
    await s.advance(60_000);
    expect((await s.run(final.id)).status).toBe('failed');
    expect((await s.request('POST', `/api/runs/${final.id}/retry-now`)).status).toBe(409);
  });
});

describe('operator actions', () => {
  it('complete settles the current attempt, recorded with source operator; 409 once settled; 404 unknown attempt', async () => {
    const run = await awaiting();
    const a1 = run.attempts[0]!.id;
    clock.advance(3_000);
    const res = await s.request<Run>('POST', `/api/runs/${run.id}/attempts/${a1}/complete`, {
      json: { success: true, message: 'checked by hand', output: { ok: 1 } },
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('succeeded');
    expect(res.body.attempts[0]).toMatchObject({ state: 'CallbackSuccess', message: 'checked by hand', output: { ok: 1 }, endedAt: iso(T0 + 3_000) });
    expect((await s.events(run.id)).at(-1)).toMatchObject({ type: 'callback.received', source: 'operator', verdict: 'applied', attemptId: a1 });

    const again = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/attempts/${a1}/complete`, { json: { success: false } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('TETHER_ATTEMPT_NOT_WAITING');
    expect((await s.events(run.id)).at(-1)).toMatchObject({ source: 'operator', verdict: 'conflict' });

    const ghost = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/attempts/${a1.replace(/_1$/, '_7')}/complete`, { json: { success: true } });
    expect(ghost.status).toBe(404);
    expect(ghost.body.error.code).toBe('TETHER_ATTEMPT_NOT_FOUND');

    const bad = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/attempts/${a1}/complete`, { json: { success: 'yes' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe('success must be boolean');
  });

  it('complete with success false fails the attempt and the run retries', async () => {
    const run = await awaiting();
    const res = await s.request<Run>('POST', `/api/runs/${run.id}/attempts/${run.attempts[0]!.id}/complete`, { json: { success: false } });
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('retrying');
    expect(res.body.attempts[0]!.state).toBe('CallbackFailure');
  });

  it('timeout times the current attempt out now, recorded with source operator; 409 when not waiting; 404 unknown attempt', async () => {
    const run = await awaiting();
    const a1 = run.attempts[0]!.id;
    clock.advance(4_000);
    const res = await s.request<Run>('POST', `/api/runs/${run.id}/attempts/${a1}/timeout`);
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('retrying');
    expect(res.body.attempts[0]).toMatchObject({ state: 'TimedOut', message: 'Timed out by an operator.', endedAt: iso(T0 + 4_000) });
    // The backoff starts at the operator's instant on the server clock: 1 s later, attempt 2 opens.
    expect(res.body.retryDue).toBe(iso(T0 + 5_000));
    expect((await s.events(run.id)).at(-1)).toMatchObject({ type: 'attempt.forceTimeout', source: 'operator', verdict: 'applied', attemptId: a1 });

    const again = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/attempts/${a1}/timeout`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('TETHER_ATTEMPT_NOT_WAITING');

    await s.advance(1_000);
    const r = await s.run(run.id);
    expect(r.attempts.map((a) => a.state)).toEqual(['TimedOut', 'AwaitingCallback']);

    const ghost = await s.request<ErrorBody>('POST', `/api/runs/${run.id}/attempts/${a1.replace(/_1$/, '_7')}/timeout`);
    expect(ghost.status).toBe(404);
    expect(ghost.body.error.code).toBe('TETHER_ATTEMPT_NOT_FOUND');
  });
});

describe('rerun', () => {
  it('201 a new run with the same config and rerunOf, payload kept or replaced', async () => {
    const original = await awaiting({ name: 'export', payload: { day: 1 }, retryLimit: 2, backoff: { initialSeconds: 5 } });
    expect((await s.request('POST', `/api/runs/${original.id}/cancel`)).status).toBe(200);

    const same = await s.request<Run>('POST', `/api/runs/${original.id}/rerun`);
    expect(same.status).toBe(201);
    expect(same.headers.get('location')).toBe(`/api/runs/${same.body.id}`);
    expect(same.body.id).not.toBe(original.id);
    expect(same.body).toMatchObject({ rerunOf: original.id, name: 'export', status: 'running', state: 'triggering' });
    expect(same.body.config).toEqual(original.config);

    const replaced = await s.request<Run>('POST', `/api/runs/${original.id}/rerun`, { json: { payload: { day: 2 } } });
    expect(replaced.status).toBe(201);
    expect(replaced.headers.get('location')).toBe(`/api/runs/${replaced.body.id}`);
    expect(replaced.body.rerunOf).toBe(original.id);
    expect(replaced.body.config).toEqual({ ...original.config, payload: { day: 2 } });

    await s.idle();
    const payloads = ext.received.map((t) => [t.body.runId, t.body.payload]);
    expect(payloads).toEqual([
      [original.id, { day: 1 }],
      [same.body.id, { day: 1 }],
      [replaced.body.id, { day: 2 }],
    ]);
    expect((await s.run(same.body.id)).rerunOf).toBe(original.id);
    expect((await s.events(replaced.body.id))[0]).toMatchObject({ type: 'run.created', detail: `Re-run of ${original.id}.` });

    const bad = await s.request<ErrorBody>('POST', `/api/runs/${original.id}/rerun`, { json: { payload: 1, extra: 2 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe('extra is not a known field');
  });
});
