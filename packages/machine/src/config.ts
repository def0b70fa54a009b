import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import { RunConfig, type ResolvedRunConfig } from './schemas.ts';

export interface FieldError {
  /** Dotted path of the offending field, e.g. `backoff.maxSeconds`; `(body)` for the whole value. */
  field: string;
  /** The rule it breaks, e.g. `must be > 0`. */
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export const BACKOFF_DEFAULTS = { initialSeconds: 1, multiplier: 2, maxSeconds: 300, jitter: 'none' } as const;
export const TRIGGER_TIMEOUT_DEFAULT_SECONDS = 30;

/**
 * Target headers are checked here, at creation, against the rules of RFC 9110 that the HTTP client (undici's fetch)
 * enforces when it sends the trigger: a header it would refuse fails every attempt with TriggerFailed, so a run that
 * carries one is refused with 400 instead of accepted with 201. Regexes only: this package stays isomorphic.
 */
/** field-name = token; tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** field-value: VCHAR, obs-text (0x80–0xFF), SP and HTAB; every other control character (CTL) is refused. */
const HEADER_VALUE_CTL = /[\x00-\x08\x0A-\x1F\x7F]/;
/** Header values are bytes: fetch refuses a character above U+00FF (it cannot be sent as one byte). */
const HEADER_VALUE_WIDE = /[^\x00-\xFF]/u;
/** Headers Tether sets on every trigger: a run's own would be merged with them ("text/plain, application/json"). */
const TETHER_HEADERS = new Set(['content-type', 'idempotency-key']);
/**
 * Headers the HTTP client manages for the connection and the body's framing (RFC 9110 §7.6.1 hop-by-hop, Host,
 * Content-Length, Expect): undici refuses content-length (mismatch), transfer-encoding, keep-alive, upgrade and expect
 * outright, and drops host silently (the target URL decides, and TETHER_ALLOWED_TARGETS checks that URL); the rest mean
 * nothing on a single request. None can be set per run.
 */
const CLIENT_HEADERS = new Set(['content-length', 'transfer-encoding', 'host', 'connection', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection']);

const codePoint = (c: string): string => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** What is wrong with one target header, or null. The field is `target.headers.<name>` as given. */
function headerError(name: string, value: string, seen: Map<string, string>): FieldError | null {
  if (name === '') return { field: 'target.headers', message: 'has a header with an empty name' };
  const field = `target.headers.${name}`;
  if (!HEADER_NAME.test(name)) return { field, message: 'is not a valid header name' };
  const lower = name.toLowerCase();
  if (TETHER_HEADERS.has(lower)) return { field, message: 'is set by Tether and cannot be overridden' };
  if (CLIENT_HEADERS.has(lower)) return { field, message: 'is managed by the HTTP client and cannot be set per run' };
  const first = seen.get(lower);
  if (first !== undefined) return { field, message: `repeats target.headers.${first} (header names are case-insensitive)` };
  seen.set(lower, name);
  const ctl = HEADER_VALUE_CTL.exec(value);
  if (ctl) return { field, message: `value contains a control character (${codePoint(ctl[0])} at position ${ctl.index})` };
  const wide = HEADER_VALUE_WIDE.exec(value);
  if (wide) return { field, message: `value contains a character outside Latin-1 (${codePoint(wide[0])} at position ${wide.index}); header values are bytes` };
  return null;
}

export const pathToField = (instancePath: string): string =>
  instancePath === '' ? '(body)' : instancePath.replace(/^\//, '').replace(/\//g, '.');

interface RawError {
  keyword?: string;
  schemaPath?: string;
  instancePath: string;
  message: string;
  params?: unknown;
}

/** TypeBox reports `must have required properties x`; name the missing field itself. */
function describe(e: RawError): FieldError {
  const params = (e.params ?? {}) as { requiredProperties?: string[]; additionalProperties?: string[] };
  const base = e.instancePath === '' ? '' : `${pathToField(e.instancePath)}.`;
  if (params.requiredProperties?.length) return { field: `${base}${params.requiredProperties[0]}`, message: 'is required' };
  if (params.additionalProperties?.length)
    return { field: `${base}${params.additionalProperties[0]}`, message: 'is not a known field' };
  // TypeBox 1.x also reports the extra property itself against `additionalProperties: false` ("schema is false").
  if (e.keyword === 'boolean' && e.schemaPath?.endsWith('/additionalProperties'))
    return { field: pathToField(e.instancePath), message: 'is not a known field' };
  return { field: pathToField(e.instancePath), message: e.message };
}

/** A literal union fails once per literal ("must be equal to constant"): say which values are allowed instead. */
const allowedValueOf = (e: RawError): unknown[] =>
  e.keyword === 'const' && e.params !== null && typeof e.params === 'object' && 'allowedValue' in e.params
    ? [(e.params as { allowedValue: unknown }).allowedValue]
    : [];

/** Structural errors of a value against a schema, one per field, most specific first. */
export function schemaErrors(schema: TSchema, value: unknown): FieldError[] {
  const byField = new Map<string, { error: FieldError; allowed: unknown[] }>();
  for (const raw of Value.Errors(schema, value)) {
    const e = raw as RawError;
    const fe = describe(e);
    const seen = byField.get(fe.field);
    if (seen) seen.allowed.push(...allowedValueOf(e));
    else byField.set(fe.field, { error: fe, allowed: allowedValueOf(e) });
  }
  const out = [...byField.values()].map(({ error, allowed }): FieldError =>
    allowed.length === 0
      ? error
      : { field: error.field, message: `must be ${allowed.length > 1 ? 'one of ' : ''}${allowed.map((v) => JSON.stringify(v)).join(', ')}` },
  );
  // Deepest paths first: "backoff.jitter must be one of …" says more than "(body) …".
  return out.sort((a, b) => b.field.split('.').length - a.field.split('.').length);
}

/** Rules a JSON schema cannot say. */
function ruleErrors(c: RunConfig): FieldError[] {
  const errors: FieldError[] = [];
  let url: URL | undefined;
  try {
    url = new URL(c.target.url);
  } catch {
    errors.push({ field: 'target.url', message: 'must be an absolute URL' });
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:')
    errors.push({ field: 'target.url', message: 'must use http or https' });
  if (url && (url.username || url.password))
    errors.push({ field: 'target.url', message: 'must not carry credentials; use target.headers' });
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(c.target.headers ?? {})) {
    const e = headerError(name, value, seen);
    if (e) errors.push(e);
  }
  const b = { ...BACKOFF_DEFAULTS, ...c.backoff };
  if (b.maxSeconds < b.initialSeconds)
    errors.push({ field: 'backoff.maxSeconds', message: 'must be >= backoff.initialSeconds' });
  return errors;
}

export function resolveRunConfig(c: RunConfig): ResolvedRunConfig {
  return {
    ...c,
    target: { ...c.target, method: c.target.method ?? 'POST' },
    backoff: { ...BACKOFF_DEFAULTS, ...c.backoff },
    triggerTimeoutSeconds: c.triggerTimeoutSeconds ?? TRIGGER_TIMEOUT_DEFAULT_SECONDS,
  };
}

/** Validates a RunConfig; errors name the field and the rule. On success, defaults are filled in. */
export function parseRunConfig(input: unknown): ParseResult<ResolvedRunConfig> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return { ok: false, errors: [{ field: '(body)', message: 'must be a JSON object' }] };
  const structural = schemaErrors(RunConfig, input);
  if (structural.length) return { ok: false, errors: structural };
  const config = input as RunConfig;
  const rules = ruleErrors(config);
  if (rules.length) return { ok: false, errors: rules };
  return { ok: true, value: resolveRunConfig(config) };
}

export const formatFieldErrors = (errors: FieldError[]): string =>
  errors.map((e) => `${e.field} ${e.message}`).join('; ');
