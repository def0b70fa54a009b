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

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the engine sets itself: a run may not override them. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'idempotency-key', 'host', 'connection', 'transfer-encoding']);

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
  for (const [name, value] of Object.entries(c.target.headers ?? {})) {
    if (!HEADER_NAME.test(name)) errors.push({ field: `target.headers.${name}`, message: 'is not a valid header name' });
    else if (RESERVED_HEADERS.has(name.toLowerCase()))
      errors.push({ field: `target.headers.${name}`, message: 'is set by Tether and cannot be overridden' });
    if (/[\r\n\0]/.test(value)) errors.push({ field: `target.headers.${name}`, message: 'must not contain CR, LF or NUL' });
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
