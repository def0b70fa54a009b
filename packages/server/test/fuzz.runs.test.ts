/**
 * Fuzzing the runs API with fast-check against a real listening server: create, list, read, events, cancel,
 * retry-now, operator complete/timeout, rerun. Whatever arrives — malformed JSON, wrong types, huge and negative numbers,
 * "NaN" strings, deep nesting, __proto__/constructor keys, long and non-ASCII strings, wrong content types, hostile
 * ids — the answer is never a 5xx: a refusal is a 4xx with a coded error and a clear message naming the field, an
 * acceptance agrees with the config parser, and no existing run changes.
 */
import fc from 'fast-check';
import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRunConfig, type Run } from '@tether/machine';
import { CancelBody, CompleteBody, RerunBody } from '@tether/machine/protocol';
import { tooDeep } from '../src/plugins/json.ts';
import {
  CONFIG_PATHS,
  FUZZ_RUNS,
  FUZZ_TIMEOUT_MS,
  buildWorld,
  contentType,
  expectClear4xx,
  expectNo5xx,
  fingerprint,
  hostileId,
  report,
  hostileJsonText,
  hostileValue,
  setPath,
  type World,
} from './helpers/fuzz-world.ts';

let w: World;
let before: string;
beforeAll(async () => {
  w = await buildWorld();
  before = await fingerprint(w);
});
afterAll(async () => {
  // Whatever was thrown at it, the server is alive and the seeded runs are exactly as they were.
  const health = await w.s.send('GET', '/healthz');
  expect(health.status).toBe(200);
  await w.s.idle();
  expect(await fingerprint(w)).toBe(before);
  report('fuzz.runs', w);
  await w.close();
});

const valid = () => ({ name: 'fuzz', target: { url: w.ext.url }, timeoutSeconds: 30, retryLimit: 1 });
const json = { 'content-type': 'application/json' };
const runCount = () => w.s.app.tether.engine.runCount;

/** What the server must answer for this value: the config parser and the nesting limit are the oracle. */
const oracle = (v: unknown): { ok: true } | { ok: false; field: string } => {
  const deep = tooDeep(v);
  if (deep !== null) return { ok: false, field: deep };
  const p = parseRunConfig(v);
  if (p.ok) return { ok: true };
  return { ok: false, field: p.errors[0]!.field };
};

describe('POST /api/runs', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('one field set to a hostile value: 201 exactly when the config is valid, else 400 naming the field', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...CONFIG_PATHS), hostileValue, async (path, value) => {
        const body = setPath(valid(), path, value);
        const text = JSON.stringify(body);
        const expected = oracle(JSON.parse(text));
        const count = runCount();
        const a = await w.s.send('POST', '/api/runs', { body: text, headers: json });
        const what = `${path} = ${JSON.stringify(value)?.slice(0, 80)}`;
        if (expected.ok) {
          expect(a.status, `${what} → ${a.text.slice(0, 200)}`).toBe(201);
          expect(runCount()).toBe(count + 1);
        } else {
          expectClear4xx(a, what);
          expect(a.status, what).toBe(400);
          // Names the field (the top-level one at least: a nesting or schema error may be reported on its parent).
          expect((a.json as { error: { message: string } }).error.message, what).toContain(path.split('.')[0]!);
          expect(runCount(), `${what} created a run`).toBe(count);
        }
      }),
      { numRuns: FUZZ_RUNS * 2 },
    );
  });

  it('a valid config with one field nested 65 to 100 000 levels deep: 400 naming the field (no 503, no 500)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...CONFIG_PATHS),
        fc.constantFrom(65, 100, 1_000, 5_000, 100_000),
        fc.constantFrom('[', '{"a":'),
        async (path, depth, open) => {
          const MARK = '"__deep__"';
          const deep = open.repeat(depth) + '1' + (open === '[' ? ']' : '}').repeat(depth);
          const text = JSON.stringify(setPath(valid(), path, '__deep__')).replace(MARK, deep);
          const count = runCount();
          const a = await w.s.send('POST', '/api/runs', { body: text, headers: json });
          expectClear4xx(a, `${path} ${depth} deep`);
          expect((a.json as { error: { message: string } }).error.message).toContain(path.split('.')[0]!);
          expect(runCount()).toBe(count);
        },
      ),
      { numRuns: Math.ceil(FUZZ_RUNS / 2) },
    );
  });

  it('malformed, poisoned or absurdly deep JSON under any content type: 400, nothing created', async () => {
    await fc.assert(
      fc.asyncProperty(hostileJsonText, contentType, async (text, type) => {
        const count = runCount();
        const a = await w.s.send('POST', '/api/runs', { body: text, headers: type ? { 'content-type': type } : {} });
        expectClear4xx(a, `${JSON.stringify(text.slice(0, 60))} as ${type}`);
        expect(runCount()).toBe(count);
        // Parsed (a media type we read as JSON) and refused for the poisoned key: the message says so.
        if (/"(__proto__|constructor)"\s*:/.test(text) && text.length < 100 && a.status === 400)
          expect((a.json as { error: { message: string } }).error.message).toMatch(/__proto__|constructor/);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('any JSON value at all: 201 exactly when the oracle accepts it, otherwise a clear 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.dictionary(fc.constantFrom('name', 'target', 'timeoutSeconds', 'retryLimit', 'payload', 'backoff'), hostileValue),
        ),
        contentType,
        async (value, type) => {
          const text = JSON.stringify(value) ?? 'null';
          const a = await w.s.send('POST', '/api/runs', { body: text, headers: type ? { 'content-type': type } : {} });
          if (oracle(JSON.parse(text)).ok) expect(a.status).toBe(201);
          else expectClear4xx(a, text.slice(0, 100));
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('a valid config still works after all that, under its content type or none', async () => {
    for (const type of ['application/json', undefined]) {
      const a = await w.s.send('POST', '/api/runs', { body: JSON.stringify(valid()), headers: type ? { 'content-type': type } : {} });
      expect(a.status).toBe(201);
    }
  });
});

describe('GET /api/runs (list query)', { timeout: FUZZ_TIMEOUT_MS }, () => {
  const KNOWN = ['status', 'name', 'limit', 'cursor', 'token'];
  /** The query schema as an oracle: known keys once each, status from the vocabulary, limit 1–500 in digits. */
  const queryOk = (pairs: Array<[string, string]>): boolean => {
    const seen = new Set<string>();
    for (const [k, v] of pairs) {
      if (!KNOWN.includes(k) || seen.has(k)) return false;
      seen.add(k);
      if (k === 'status' && !['running', 'succeeded', 'failed', 'cancelled'].includes(v)) return false;
      if (k === 'limit' && (!/^[0-9]{1,4}$/.test(v) || Number(v) < 1 || Number(v) > 500)) return false;
      if (k === 'name' && [...v].length > 200) return false;
      if (k === 'cursor' && [...v].length > 100) return false;
    }
    return true;
  };
  const value = fc.oneof(
    fc.constantFrom('running', 'failed', 'NaN', '-1', '0', '1', '500', '501', '1e3', '0x10', ' 5', '5 ', '', 'x'.repeat(300), 'é', '💥', 'run_x'),
    fc.string({ unit: 'grapheme', maxLength: 30 }),
  );

  it('any mix of known, unknown and repeated parameters: 200 with a list exactly when valid, else a clear 400', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.oneof(fc.constantFrom(...KNOWN), fc.constantFrom('__proto__', 'constructor', 'limit[]', 'x')), value), { maxLength: 4 }),
        async (pairs) => {
          const qs = new URLSearchParams(pairs).toString();
          const a = await w.s.send('GET', `/api/runs?${qs}`);
          if (queryOk(pairs)) {
            expect(a.status, `?${qs} → ${a.text.slice(0, 200)}`).toBe(200);
            expect(Array.isArray((a.json as { runs: unknown[] }).runs)).toBe(true);
          } else expectClear4xx(a, `?${qs}`);
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('raw, badly escaped query strings never get past a 4xx', async () => {
    for (const q of [
      'limit=%',
      'limit=%FF',
      'status=%00',
      'name=%E0%A4%A',
      '&&&',
      '=x',
      'limit=1&limit=2',
      'status[]=running',
      'name=' + '%41'.repeat(300),
    ]) {
      expectNo5xx(await w.s.send('GET', `/api/runs?${q}`), q);
    }
  });
});

describe('reading a run by a hostile id', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('GET /api/runs/:id and /events: a clear 4xx for any id that is not a run', async () => {
    await fc.assert(
      fc.asyncProperty(hostileId, fc.boolean(), async (id, events) => {
        const a = await w.s.send('GET', `/api/runs/${id}${events ? '/events' : ''}`);
        expectClear4xx(a, `GET ${id}`);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});

describe('actions on runs', { timeout: FUZZ_TIMEOUT_MS }, () => {
  /** JSON values the route's body schema refuses. */
  const invalidFor = (schema: TSchema) => fc.jsonValue({ maxDepth: 3 }).filter((v) => !Value.Check(schema, v));
  const seeded = () => Object.values(w.runs);
  const someRun = fc.integer({ min: 0, max: 3 }).map((i) => seeded()[i]!);

  it('cancel, complete, rerun on real runs with bodies their schema refuses: 400, nothing changes', async () => {
    await fc.assert(
      fc.asyncProperty(
        someRun,
        fc.constantFrom('cancel', 'complete', 'rerun'),
        fc.oneof(invalidFor(CancelBody), invalidFor(CompleteBody), invalidFor(RerunBody)),
        contentType,
        async (run: Run, action, body, type) => {
          const schema = action === 'cancel' ? CancelBody : action === 'complete' ? CompleteBody : RerunBody;
          if (Value.Check(schema, body)) return; // valid for this route after all: not what this property is about
          const path = action === 'complete' ? `/api/runs/${run.id}/attempts/${run.attempts.at(-1)!.id}/complete` : `/api/runs/${run.id}/${action}`;
          const count = runCount();
          const a = await w.s.send('POST', path, { body: JSON.stringify(body), headers: type ? { 'content-type': type } : {} });
          expectClear4xx(a, `${action} ${run.state} with ${JSON.stringify(body).slice(0, 80)}`);
          expect(runCount()).toBe(count);
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('every action with a hostile run or attempt id: a clear 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        hostileId,
        hostileId,
        fc.constantFrom('cancel', 'retry-now', 'rerun', 'complete', 'timeout'),
        fc.oneof(
          fc.constant(undefined),
          hostileJsonText,
          fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
        ),
        async (id, attemptId, action, body) => {
          const realRun = w.runs.awaiting.id;
          // A fuzzed attempt id on a real run, or a fuzzed run id: neither may settle anything.
          const path =
            action === 'complete' || action === 'timeout' ? `/api/runs/${realRun}/attempts/${attemptId}/${action}` : `/api/runs/${id}/${action}`;
          const a = await w.s.send('POST', path, { ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}) });
          expectClear4xx(a, `POST ${path} ${String(body).slice(0, 60)}`);
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('retry-now on a run not in backoff and timeout of a settled attempt: 409 whatever the body, nothing changes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(w.runs.awaiting, w.runs.succeeded, w.runs.cancelled), fc.jsonValue({ maxDepth: 2 }), async (run, body) => {
        const r = await w.s.send('POST', `/api/runs/${run.id}/retry-now`, { json: body });
        expectClear4xx(r, `retry-now ${run.state}`);
        if (run.status !== 'running') {
          const t = await w.s.send('POST', `/api/runs/${run.id}/attempts/${run.attempts.at(-1)!.id}/timeout`, { json: body });
          expectClear4xx(t, `timeout ${run.state}`);
        }
      }),
      { numRuns: Math.ceil(FUZZ_RUNS / 2) },
    );
  });

  it('methods and routes that do not exist: a coded 404/405-style refusal, never a 5xx', async () => {
    for (const [method, path] of [
      ['DELETE', '/api/runs'],
      ['PUT', `/api/runs/${w.runs.awaiting.id}`],
      ['PATCH', `/api/runs/${w.runs.awaiting.id}/cancel`],
      ['GET', `/api/runs/${w.runs.awaiting.id}/cancel`],
      ['POST', '/api/runs/%FF/cancel'],
      ['POST', `/api/runs/${w.runs.awaiting.id}/attempts//complete`],
      ['GET', '/api/../../etc/passwd'],
    ] as const) {
      expectClear4xx(await w.s.send(method, path, method === 'GET' ? {} : { json: {} }), `${method} ${path}`);
    }
  });
});
