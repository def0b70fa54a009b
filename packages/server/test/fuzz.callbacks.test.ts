/**
 * Fuzzing the callback webhook and heartbeats with fast-check against a real listening server. Validly signed URLs
 * with bodies the protocol refuses, forged signatures with any body, hostile run and attempt ids, any content type:
 * always a 4xx in the protocol's shape ({ result, message }) and recorded, never a 5xx, and no run changes — a finished
 * run answers every well-formed body duplicate, conflict or late.
 */
import fc from 'fast-check';
import Value from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackBody, HeartbeatBody } from '@tether/machine';
import { tooDeep } from '../src/plugins/json.ts';
import {
  FUZZ_RUNS,
  FUZZ_TIMEOUT_MS,
  buildWorld,
  contentType,
  expectClear4xx,
  expectNo5xx,
  fingerprint,
  hostileId,
  hostileJsonText,
  hostileValue,
  report,
  type World,
} from './helpers/fuzz-world.ts';

let w: World;
let before: string;
beforeAll(async () => {
  w = await buildWorld();
  before = await fingerprint(w);
});
afterAll(async () => {
  expect((await w.s.send('GET', '/healthz')).status).toBe(200);
  await w.s.idle();
  expect(await fingerprint(w)).toBe(before);
  report('fuzz.callbacks', w);
  await w.close();
});

const attempt = () => w.runs.awaiting.attempts[0]!;
const withSig = (url: string, sig: string) => {
  const u = new URL(url);
  u.searchParams.set('sig', sig);
  return u.toString();
};

/** Bodies the webhook must refuse: hostile texts, and JSON values outside the callback shape. */
const refusedCallbackBody = fc.oneof(
  hostileJsonText,
  fc
    .oneof(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(fc.constantFrom('success', 'message', 'output', 'retryable', 'extra'), hostileValue))
    .map((v) => JSON.stringify(v) ?? 'null'),
);
const accepted = (schema: typeof CallbackBody | typeof HeartbeatBody, text: string): boolean => {
  try {
    const v = JSON.parse(text);
    return tooDeep(v) === null && (Value.Check(schema, v) || (schema === HeartbeatBody && v === undefined));
  } catch {
    return text.trim() === '' && schema === HeartbeatBody;
  }
};

describe('callbacks', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('a validly signed callback with a body the protocol refuses: 400/413 invalid, recorded, the attempt still waiting', async () => {
    await fc.assert(
      fc.asyncProperty(refusedCallbackBody, contentType, async (text, type) => {
        if (accepted(CallbackBody, text) || text.trim() === '') return;
        const events = (await w.s.events(w.runs.awaiting.id)).length;
        const a = await w.s.send('POST', attempt().callbackUrl!, { body: text, headers: type ? { 'content-type': type } : {} });
        expectClear4xx(a, `${text.slice(0, 80)} as ${type}`);
        expect(a.json).toMatchObject({ result: 'invalid', attemptId: attempt().id });
        await w.s.idle();
        const added = (await w.s.events(w.runs.awaiting.id)).slice(events);
        expect(added.map((e) => [e.verdict, e.httpStatus])).toEqual([['invalid', a.status]]);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('any signature but the issued one, with any body: refused before the body is even read, 401 unauthorized, 429 rate_limited once over the limit', async () => {
    const limit = w.s.app.tether.settings.forgedRateLimit;
    let forged = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.base64String(), fc.constantFrom('', ' ', '%', 'null')),
        refusedCallbackBody,
        async (sig, text) => {
          const real = new URL(attempt().callbackUrl!).searchParams.get('sig');
          if (sig === real) return;
          const a = await w.s.send('POST', withSig(attempt().callbackUrl!, sig), { body: text, headers: { 'content-type': 'application/json' } });
          expectClear4xx(a, `sig ${JSON.stringify(sig).slice(0, 60)}`);
          // The world's clock is frozen, so every forged request falls in one interval: the first `limit` are 401, the rest 429.
          if (++forged <= limit) expect((a.json as { result: string }).result).toBe('unauthorized');
          else {
            expect([a.status, (a.json as { result: string }).result]).toEqual([429, 'rate_limited']);
            expect(a.headers.get('retry-after')).toBe('1');
          }
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('hostile run and attempt ids in the URL: a clear 4xx (404 not_found, or a coded bad-URL error)', async () => {
    await fc.assert(
      fc.asyncProperty(hostileId, hostileId, fc.boolean(), async (runId, attemptId, heartbeat) => {
        const sig = new URL(attempt().callbackUrl!).searchParams.get('sig')!;
        const a = await w.s.send('POST', `/api/callbacks/${runId}/${attemptId}${heartbeat ? '/heartbeat' : ''}?sig=${sig}`, {
          json: { success: true },
        });
        expectClear4xx(a, `${runId}/${attemptId}`);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('a finished run answers any well-formed body duplicate, conflict or late, and changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(w.runs.succeeded, w.runs.cancelled),
        fc.oneof(
          fc.boolean(),
          fc.record(
            { success: fc.boolean(), message: fc.string({ maxLength: 20 }), output: fc.jsonValue({ maxDepth: 2 }) },
            { requiredKeys: ['success'] },
          ),
        ),
        async (run, body) => {
          const a = await w.s.send('POST', run.attempts.at(-1)!.callbackUrl!, { json: body });
          expectNo5xx(a, JSON.stringify(body));
          expect(['duplicate', 'conflict', 'late']).toContain((a.json as { result: string }).result);
        },
      ),
      { numRuns: Math.ceil(FUZZ_RUNS / 2) },
    );
  });
});

describe('heartbeats', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('a validly signed heartbeat with a body the protocol refuses: 400 invalid and recorded', async () => {
    await fc.assert(
      fc.asyncProperty(refusedCallbackBody, contentType, async (text, type) => {
        if (accepted(HeartbeatBody, text)) return;
        const a = await w.s.send('POST', attempt().heartbeatUrl!, { body: text, headers: type ? { 'content-type': type } : {} });
        expectClear4xx(a, `heartbeat ${text.slice(0, 80)} as ${type}`);
        expect((a.json as { result: string }).result).toBe('invalid');
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it("the callback signature on the heartbeat URL, and the heartbeat's on the callback URL: 401", async () => {
    const cb = new URL(attempt().callbackUrl!).searchParams.get('sig')!;
    const hb = new URL(attempt().heartbeatUrl!).searchParams.get('sig')!;
    expectClear4xx(await w.s.send('POST', withSig(attempt().heartbeatUrl!, cb), { json: { progress: 1 } }), 'callback sig on heartbeat');
    expectClear4xx(await w.s.send('POST', withSig(attempt().callbackUrl!, hb), { json: { success: true } }), 'heartbeat sig on callback');
  });
});
