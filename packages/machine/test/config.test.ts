import { describe, expect, it } from 'vitest';
import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import {
  BACKOFF_DEFAULTS,
  CallbackBody,
  HeartbeatBody,
  TRIGGER_TIMEOUT_DEFAULT_SECONDS,
  fieldErrorsOf,
  formatFieldErrors,
  parseRunConfig,
  resolveRunConfig,
} from '../src/index.ts';
import { baseConfig } from './drive.ts';

/** The errors of a config that must be rejected. */
function errorsOf(input: unknown) {
  const r = parseRunConfig(input);
  if (r.ok) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return r.errors;
}

const valid = () => baseConfig() as Record<string, unknown>;

describe('parseRunConfig: errors name the field and the rule', () => {
  it.each([
    ['timeoutSeconds = 0', { ...valid(), timeoutSeconds: 0 }, 'timeoutSeconds', 'must be > 0'],
    ['timeoutSeconds < 0', { ...valid(), timeoutSeconds: -5 }, 'timeoutSeconds', 'must be > 0'],
    ['timeoutSeconds not a number', { ...valid(), timeoutSeconds: '60' }, 'timeoutSeconds', 'must be number'],
    ['timeoutSeconds beyond a year', { ...valid(), timeoutSeconds: 31_536_001 }, 'timeoutSeconds', 'must be <= 31536000'],
    ['retryLimit fractional', { ...valid(), retryLimit: 1.5 }, 'retryLimit', 'must be integer'],
    ['retryLimit negative', { ...valid(), retryLimit: -1 }, 'retryLimit', 'must be >= 0'],
    ['retryLimit missing', { target: { url: 'https://x.test' }, timeoutSeconds: 1 }, 'retryLimit', 'is required'],
    ['unknown top-level field', { ...valid(), timeout: 60 }, 'timeout', 'is not a known field'],
    ['unknown nested field', { ...valid(), backoff: { initial: 1 } }, 'backoff.initial', 'is not a known field'],
    ['target.url missing', { ...valid(), target: {} }, 'target.url', 'is required'],
    ['target missing', { timeoutSeconds: 1, retryLimit: 0 }, 'target', 'is required'],
    ['target.url not a URL', { ...valid(), target: { url: 'jobs.example.com' } }, 'target.url', 'must be an absolute URL'],
    ['target.url not http(s)', { ...valid(), target: { url: 'ftp://jobs.example.com/x' } }, 'target.url', 'must use http or https'],
    [
      'target.url with credentials',
      { ...valid(), target: { url: 'https://u:p@x.test' } },
      'target.url',
      'must not carry credentials; use target.headers',
    ],
    ['target.method GET', { ...valid(), target: { url: 'https://x.test', method: 'GET' } }, 'target.method', 'must be one of "POST", "PUT"'],
    [
      'backoff.maxSeconds < initialSeconds',
      { ...valid(), backoff: { initialSeconds: 10, maxSeconds: 5 } },
      'backoff.maxSeconds',
      'must be >= backoff.initialSeconds',
    ],
    [
      'backoff.maxSeconds < default initialSeconds',
      { ...valid(), backoff: { maxSeconds: 0.5 } },
      'backoff.maxSeconds',
      'must be >= backoff.initialSeconds',
    ],
    ['backoff.multiplier < 1', { ...valid(), backoff: { multiplier: 0.5 } }, 'backoff.multiplier', 'must be >= 1'],
    ['backoff.jitter invalid', { ...valid(), backoff: { jitter: 'random' } }, 'backoff.jitter', 'must be one of "none", "full", "equal"'],
    [
      'header value with CR/LF',
      { ...valid(), target: { url: 'https://x.test', headers: { 'X-Token': 'a\r\nInjected: 1' } } },
      'target.headers.X-Token',
      'value contains a control character (U+000D at position 1)',
    ],
    [
      'header value with bare LF',
      { ...valid(), target: { url: 'https://x.test', headers: { 'X-Token': 'a\nb' } } },
      'target.headers.X-Token',
      'value contains a control character (U+000A at position 1)',
    ],
    [
      'header name invalid',
      { ...valid(), target: { url: 'https://x.test', headers: { 'X Token': 'a' } } },
      'target.headers.X Token',
      'is not a valid header name',
    ],
    [
      'reserved header',
      { ...valid(), target: { url: 'https://x.test', headers: { 'Idempotency-Key': 'a' } } },
      'target.headers.Idempotency-Key',
      'is set by Tether and cannot be overridden',
    ],
    ['header value not a string', { ...valid(), target: { url: 'https://x.test', headers: { 'X-N': 5 } } }, 'target.headers.X-N', 'must be string'],
    ['heartbeatTimeoutSeconds = 0', { ...valid(), heartbeatTimeoutSeconds: 0 }, 'heartbeatTimeoutSeconds', 'must be > 0'],
    ['deadlineSeconds < 0', { ...valid(), deadlineSeconds: -1 }, 'deadlineSeconds', 'must be > 0'],
    ['triggerTimeoutSeconds > 1 h', { ...valid(), triggerTimeoutSeconds: 3601 }, 'triggerTimeoutSeconds', 'must be <= 3600'],
  ])('%s', (_name, input, field, message) => {
    expect(errorsOf(input)).toContainEqual({ field, message });
  });

  it.each([
    ['a string', 'config'],
    ['null', null],
    ['an array', []],
    ['a number', 42],
  ])('rejects %s as a whole', (_n, input) => {
    expect(errorsOf(input)).toEqual([{ field: '(body)', message: 'must be a JSON object' }]);
  });

  it('reports each broken field once, deepest first', () => {
    const errors = errorsOf({ target: { url: 'https://x.test', method: 'GET' }, timeoutSeconds: 0, retryLimit: -1 });
    const fields = errors.map((e) => e.field);
    expect(new Set(fields).size).toBe(fields.length);
    expect(fields[0]).toBe('target.method');
    expect(fields).toEqual(expect.arrayContaining(['timeoutSeconds', 'retryLimit']));
  });

  it('formats errors as "field rule" sentences', () => {
    expect(formatFieldErrors(errorsOf({ ...valid(), timeoutSeconds: 0, retryLimit: 0.5 }))).toMatch(
      /^(timeoutSeconds must be > 0; retryLimit must be integer|retryLimit must be integer; timeoutSeconds must be > 0)$/,
    );
  });
});

describe('parseRunConfig: every error at once', () => {
  it('a typo is reported as unknown even when required fields are missing too, each missing field on its own', () => {
    const errors = errorsOf({ target: { url: 'https://x.test' }, timout: 60 });
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'timout', message: 'is not a known field' },
        { field: 'timeoutSeconds', message: 'is required' },
        { field: 'retryLimit', message: 'is required' },
      ]),
    );
    expect(errors).toHaveLength(3);
  });

  it('schema errors and rule errors together', () => {
    const errors = errorsOf({
      ...valid(),
      retryLimit: -1,
      target: { url: 'ftp://x.test', headers: { 'X-A': 'a\nb', 'X-N': 5 } },
      backoff: { initialSeconds: 10, maxSeconds: 5, jitter: 'random' },
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'retryLimit', message: 'must be >= 0' },
        { field: 'target.url', message: 'must use http or https' },
        { field: 'target.headers.X-A', message: 'value contains a control character (U+000A at position 1)' },
        { field: 'target.headers.X-N', message: 'must be string' },
        { field: 'backoff.maxSeconds', message: 'must be >= backoff.initialSeconds' },
        { field: 'backoff.jitter', message: 'must be one of "none", "full", "equal"' },
      ]),
    );
    expect(errors).toHaveLength(6);
    // Deepest first, across both kinds.
    expect(errors.map((e) => e.field.split('.').length)).toEqual([3, 3, 2, 2, 2, 1]);
  });

  it('many at once: past TypeBox’s default of 8 buffered errors', () => {
    const typos = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`typo${i}`, i]));
    const errors = errorsOf({ target: { url: 'https://x.test', method: 'GET' }, backoff: { jitter: 'random' }, ...typos });
    expect(errors.map((e) => e.field).sort()).toEqual(
      ['backoff.jitter', 'retryLimit', 'target.method', 'timeoutSeconds', ...Object.keys(typos)].sort(),
    );
  });

  it('a rule is not checked on a field the schema already refused', () => {
    // An empty URL is too short for the schema; "must be an absolute URL" would only repeat it.
    expect(errorsOf({ ...valid(), target: { url: '' } })).toEqual([{ field: 'target.url', message: 'must not have fewer than 1 characters' }]);
    // maxSeconds < initialSeconds is moot when initialSeconds is not a valid number at all.
    expect(errorsOf({ ...valid(), backoff: { initialSeconds: -10, maxSeconds: 5 } })).toEqual([
      { field: 'backoff.initialSeconds', message: 'must be >= 0' },
    ]);
  });
});

describe('fieldErrorsOf: the one translator of schema errors', () => {
  const of = (schema: TSchema, value: unknown) => fieldErrorsOf(Value.Errors(schema, value));

  it('a union reports the branch the value had the type of, not every branch it missed', () => {
    // { … } | boolean: an object is judged as the object branch; "must be boolean" would be noise.
    expect(of(CallbackBody, { success: true, extra: 1 })).toEqual([{ field: 'extra', message: 'is not a known field' }]);
    expect(of(CallbackBody, { message: 'hi', extra: 1 })).toEqual(
      expect.arrayContaining([
        { field: 'success', message: 'is required' },
        { field: 'extra', message: 'is not a known field' },
      ]),
    );
    expect(of(CallbackBody, { success: 'yes', message: 7 })).toHaveLength(2);
  });

  it('a value of none of the union’s types says what it may be', () => {
    expect(of(CallbackBody, 'yes')).toEqual([{ field: '(body)', message: 'must be object or boolean' }]);
    expect(of(HeartbeatBody, [])).toEqual([{ field: '(body)', message: 'must be object or null' }]);
  });
});

describe('parseRunConfig: accepted configs', () => {
  it('fills every default', () => {
    const r = parseRunConfig({ target: { url: 'http://localhost:9/run' }, timeoutSeconds: 0.25, retryLimit: 0 });
    expect(r).toEqual({
      ok: true,
      value: {
        target: { url: 'http://localhost:9/run', method: 'POST' },
        timeoutSeconds: 0.25,
        retryLimit: 0,
        backoff: { initialSeconds: 1, multiplier: 2, maxSeconds: 300, jitter: 'none' },
        triggerTimeoutSeconds: 30,
      },
    });
    expect(BACKOFF_DEFAULTS).toEqual({ initialSeconds: 1, multiplier: 2, maxSeconds: 300, jitter: 'none' });
    expect(TRIGGER_TIMEOUT_DEFAULT_SECONDS).toBe(30);
  });

  it('keeps given values and merges a partial backoff with the defaults', () => {
    const r = parseRunConfig({
      name: 'nightly export',
      target: { url: 'https://x.test/a', method: 'PUT', headers: { Authorization: 'Bearer s3cret' } },
      payload: { table: 'orders', rows: [1, 2] },
      timeoutSeconds: 90,
      retryLimit: 5,
      backoff: { multiplier: 3, jitter: 'equal' },
      heartbeatTimeoutSeconds: 15,
      deadlineSeconds: 600,
      triggerTimeoutSeconds: 5,
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.backoff).toEqual({ initialSeconds: 1, multiplier: 3, maxSeconds: 300, jitter: 'equal' });
    expect(r.value.target).toEqual({ url: 'https://x.test/a', method: 'PUT', headers: { Authorization: 'Bearer s3cret' } });
    expect(r.value.payload).toEqual({ table: 'orders', rows: [1, 2] });
    expect([r.value.heartbeatTimeoutSeconds, r.value.deadlineSeconds, r.value.triggerTimeoutSeconds]).toEqual([15, 600, 5]);
  });

  it('resolveRunConfig is idempotent', () => {
    const once = resolveRunConfig(baseConfig({ backoff: { maxSeconds: 10 } }));
    expect(resolveRunConfig(once)).toEqual(once);
  });
});

/** A config whose target carries exactly these headers. */
const withHeaders = (headers: Record<string, string>) => ({ ...valid(), target: { url: 'https://x.test', headers } });

describe('parseRunConfig: target headers the HTTP client could not send are refused at creation', () => {
  const ctl = [0x00, 0x01, 0x07, 0x08, 0x0a, 0x0b, 0x0d, 0x1b, 0x1f, 0x7f];
  it.each(ctl.map((c) => [`U+${c.toString(16).toUpperCase().padStart(4, '0')}`, c] as const))('a value with the control character %s', (u, c) => {
    expect(errorsOf(withHeaders({ 'X-Foo': `ab${String.fromCharCode(c)}` }))).toEqual([
      { field: 'target.headers.X-Foo', message: `value contains a control character (${u} at position 2)` },
    ]);
  });

  it.each([
    ['U+0100', 'a\u0100'],
    ['U+20AC', '\u20ac5'],
    ['U+1F4A5', '💥'],
  ])('a value with %s, beyond Latin-1', (u, value) => {
    const at = value.search(/[^\x00-\xff]/u);
    expect(errorsOf(withHeaders({ 'X-Foo': value }))).toEqual([
      { field: 'target.headers.X-Foo', message: `value contains a character outside Latin-1 (${u} at position ${at}); header values are bytes` },
    ]);
  });

  // Refused before this change too; kept as the list of what the trigger's HTTP client refuses (checked against it, docs/reliability.md).
  it.each(['X Foo', 'X:Foo', 'X(Foo)', 'X"Foo', 'X/Foo', 'X@Foo', 'X[Foo]', 'X{Foo}', 'X\tFoo', 'Xé', 'X=Foo', 'X,Foo', 'X;Foo', 'X?Foo', 'X\\Foo'])(
    'the name %j, not an RFC 9110 token',
    (name) => {
      expect(errorsOf(withHeaders({ [name]: 'v' }))).toEqual([{ field: `target.headers.${name}`, message: 'is not a valid header name' }]);
    },
  );

  it('an empty name', () => {
    expect(errorsOf(withHeaders({ '': 'v' }))).toEqual([{ field: 'target.headers', message: 'has a header with an empty name' }]);
  });

  it.each(['Content-Length', 'Transfer-Encoding', 'Host', 'Connection', 'Keep-Alive', 'Upgrade', 'Expect', 'TE', 'Trailer', 'Proxy-Connection'])(
    '%s, which the HTTP client manages',
    (name) => {
      expect(errorsOf(withHeaders({ [name]: 'x' }))).toEqual([
        { field: `target.headers.${name}`, message: 'is managed by the HTTP client and cannot be set per run' },
      ]);
    },
  );

  it('the same name twice in different cases (fetch would send both values joined by a comma)', () => {
    expect(errorsOf(withHeaders({ 'X-Key': 'a', 'x-key': 'b' }))).toEqual([
      { field: 'target.headers.x-key', message: 'repeats target.headers.X-Key (header names are case-insensitive)' },
    ]);
  });

  it('names every bad header, each once', () => {
    const errors = errorsOf(withHeaders({ 'X-A': 'ok', 'X-B': 'a\rb', 'X C': 'v', 'X-D': 'é€' }));
    expect(errors.map((e) => e.field)).toEqual(['target.headers.X-B', 'target.headers.X C', 'target.headers.X-D']);
  });

  it('accepts what fetch sends: every tchar, HTAB and SP inside a value, Latin-1 (obs-text), empty values', () => {
    const headers = {
      "X!#$%&'*+.^_`|~-09azAZ": 'v',
      Authorization: 'Bearer abc.def-ghi_jkl~',
      'X-Tab': 'a\tb c',
      'X-Latin1': 'café \u00ff\u0080',
      'X-Empty': '',
      'X-Printable': ' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
      Cookie: 'a=1; b=2',
    };
    const r = parseRunConfig(withHeaders(headers));
    expect(r.ok && r.value.target.headers).toEqual(headers);
  });
});
