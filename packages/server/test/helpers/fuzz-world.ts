/**
 * What the fuzz tests share: hostile values, a server holding runs in every resting state (awaiting a callback, in
 * backoff, succeeded, cancelled) on a ManualClock so nothing moves by itself, a fingerprint of those runs to prove
 * no fuzzed request changed them, and the one property every refusal must have: a 4xx with a clear message.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Run } from '@tether/machine';
import { FakeExternalSystem } from './fake-external.ts';
import { ManualClock } from './manual-clock.ts';
import { serve, type Answer, type Served } from './fuzz-server.ts';

/** fast-check budget per property: enough to find the classics, small enough for `pnpm test`. FUZZ_RUNS=1000 for more. */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 120);
/** Per-test timeout that grows with the budget (a property sends up to ~2 requests per run). */
export const FUZZ_TIMEOUT_MS = Math.max(30_000, FUZZ_RUNS * 100);

/** With FUZZ_REPORT=1, each fuzz file prints how many requests it sent and how they were answered (docs/reliability.md). */
export function report(file: string, w: World): void {
  if (process.env.FUZZ_REPORT)
    console.info(`${file}: ${w.s.sent.total} requests, FUZZ_RUNS=${FUZZ_RUNS}, answers ${JSON.stringify(w.s.sent.byClass)}`);
}

const deepJson = (depth: number, leaf = '1') => `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;

/** Values no field of ours should accept as is, and a few it should: the oracle decides which. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER,
    2 ** 53 + 2,
    -1,
    -0.5,
    0,
    1.5,
    31_536_001,
    'NaN',
    'Infinity',
    '-Infinity',
    '1',
    '',
    ' ',
    null,
    true,
    false,
    [],
    {},
    [1, 2],
    { nested: { deeper: [null] } },
    'x'.repeat(10_000),
    'é'.repeat(300),
    '\u0000\r\n',
    '💥'.repeat(150),
    'http://127.0.0.1:1/',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'POST',
    'put',
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.double(),
  fc.integer(),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Field paths of a RunConfig, and a new one. */
export const CONFIG_PATHS = [
  'name',
  'target',
  'target.url',
  'target.method',
  'target.headers',
  'target.headers.x-a',
  'target.extra',
  'payload',
  'timeoutSeconds',
  'retryLimit',
  'backoff',
  'backoff.initialSeconds',
  'backoff.multiplier',
  'backoff.maxSeconds',
  'backoff.jitter',
  'backoff.extra',
  'heartbeatTimeoutSeconds',
  'deadlineSeconds',
  'triggerTimeoutSeconds',
  'unknownField',
] as const;

export function setPath(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const out = structuredClone(obj);
  const keys = path.split('.');
  let at: Record<string, unknown> = out;
  for (const k of keys.slice(0, -1)) {
    if (typeof at[k] !== 'object' || at[k] === null || Array.isArray(at[k])) at[k] = {};
    at = at[k] as Record<string, unknown>;
  }
  at[keys[keys.length - 1]!] = value;
  return out;
}

/** JSON texts that must never get past the parser: poisoned keys, bad syntax, absurd depth. */
export const hostileJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{"__proto__":{"polluted":1}}',
    '{"a":{"__proto__":{"polluted":1}}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '[{"constructor":{"prototype":{"polluted":1}}}]',
    '{',
    '{"a":',
    '{"a":1,}',
    "{'a':1}",
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":undefined}',
    '[1,2',
    '"unterminated',
    '01',
    '{"a":1}{"b":2}',
    '{"a":"\\x41"}',
    '\u0000',
    deepJson(100),
    deepJson(5_000),
    deepJson(100_000),
    `{"payload":${deepJson(200)}}`,
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }).filter((t) => {
    try {
      JSON.parse(t);
      return false;
    } catch {
      return t.trim() !== '';
    }
  }),
);

export const contentType: fc.Arbitrary<string | undefined> = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'image/png',
  'application/octet-stream',
  '*/*',
  'nonsense',
  undefined,
);

/** Path segments a caller may put where an id goes. */
export const hostileId: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'run_',
    'run_0',
    'att_x_1',
    '..',
    '%2e%2e',
    '%00',
    '%FF',
    'run_%20x',
    'run_../x',
    'RUN_abc',
    'run_abc?x=1',
    'run_' + 'a'.repeat(64),
    'run_' + 'a'.repeat(200),
    'constructor',
    '__proto__',
    'é',
    '💥',
  ),
  // A generated `.` or `..` is a dot segment, not an id: the client's URL parser resolves it before sending
  // (`/api/runs/.` asks for the list, a 200). The constants cover dot segments (`..`, and `%2e%2e` sent as an id).
  fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
    .map((s) => encodeURIComponent(s))
    .filter((s) => s !== '.' && s !== '..'),
  fc.stringMatching(/^run_[A-Za-z0-9_-]{1,20}$/),
);

/** Every refusal: 4xx, never 5xx, with a message that says something. */
export function expectClear4xx(a: Answer, what: string): void {
  expect(a.status, `${what} → ${a.status} ${a.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(a.status, `${what} → ${a.status} ${a.text.slice(0, 300)}`).toBeLessThan(500);
  const body = a.json as { error?: { code?: unknown; message?: unknown }; message?: unknown } | undefined;
  const message = body?.error?.message ?? body?.message;
  expect(typeof message === 'string' && message.trim().length >= 5, `${what} → ${a.status} without a clear message: ${a.text.slice(0, 300)}`).toBe(
    true,
  );
  if (body?.error) expect(String(body.error.code), `${what}: coded error`).toMatch(/^TETHER_[A-Z_]+$/);
}

export function expectNo5xx(a: Answer, what: string): void {
  expect(a.status, `${what} → ${a.status} ${a.text.slice(0, 300)}`).toBeLessThan(500);
}

export interface World {
  s: Served;
  ext: FakeExternalSystem;
  clock: ManualClock;
  /** One run per resting state. */
  runs: { awaiting: Run; backoff: Run; succeeded: Run; cancelled: Run };
  close(): Promise<void>;
}

/**
 * Only loopback targets are allowed: a fuzzed config that turns out valid creates a run whose trigger can only ever
 * go to this machine, never to a host a random string happened to name.
 */
export async function buildWorld(): Promise<World> {
  const ext = await new FakeExternalSystem().start();
  const clock = new ManualClock();
  const s = await serve({ clock, env: { TETHER_ALLOWED_TARGETS: '127.0.0.1' } });
  const create = async (extra: Record<string, unknown> = {}) => {
    const a = await s.send('POST', '/api/runs', { json: { name: 'seeded', target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 3, ...extra } });
    if (a.status !== 201) throw new Error(`seed: ${a.status} ${a.text}`);
    await s.idle();
    return a.json as Run;
  };
  const backoff = await create({ backoff: { initialSeconds: 3600, maxSeconds: 3600 } });
  clock.advance(60_000);
  await s.idle();
  const awaiting = await create();
  const succeeded = await create();
  await s.send('POST', (await s.run(succeeded.id)).attempts[0]!.callbackUrl!, { json: { success: true, output: { seeded: true } } });
  const cancelled = await create();
  await s.send('POST', `/api/runs/${cancelled.id}/cancel`, { json: { reason: 'seeded' } });
  await s.idle();
  const runs = {
    awaiting: await s.run(awaiting.id),
    backoff: await s.run(backoff.id),
    succeeded: await s.run(succeeded.id),
    cancelled: await s.run(cancelled.id),
  };
  expect([runs.awaiting.state, runs.backoff.state, runs.succeeded.state, runs.cancelled.state]).toEqual([
    'awaitingCallback',
    'retrying',
    'succeeded',
    'cancelled',
  ]);
  return {
    s,
    ext,
    clock,
    runs,
    async close() {
      await s.close();
      await ext.close();
    },
  };
}

/** Everything that makes a run what it is (state, attempts, timers, outbox, applied history), per seeded run. */
export async function fingerprint(w: World): Promise<string> {
  const out: Record<string, unknown> = {};
  for (const r of Object.values(w.runs)) {
    const doc = (await w.s.app.tether.engine.getDoc(r.id))!;
    out[r.id] = { snapshot: doc.snapshot, timers: doc.timers, outbox: doc.outbox, applied: doc.events.filter((e) => e.verdict === 'applied') };
  }
  return JSON.stringify(out);
}
