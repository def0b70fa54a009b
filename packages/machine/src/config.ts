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

/** TypeBox reports `must have required properties x`; name the missing field itself. */
function describe(e: { instancePath: string; message: string; params?: unknown }): FieldError {
  const params = (e.params ?? {}) as { requiredProperties?: string[]; additionalProperties?: string[] };
  const base = e.instancePath === '' ? '' : `${pathToField(e.instancePath)}.`;
  if (params.requiredProperties?.length) return { field: `${base}${params.requiredProperties[0]}`, message: 'is required' };
  if (params.additionalProperties?.length)
    return { field: `${base}${params.additionalProperties[0]}`, message: 'is not a known field' };
  return { field: pathToField(e.instancePath), message: e.message };
}

/** Structural errors of a value against a schema, one per field, most specific first. */
export function schemaErrors(schema: TSchema, value: unknown): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const e of Value.Errors(schema, value)) {
    const fe = describe(e as { instancePath: string; message: string; params?: unknown });
    if (seen.has(fe.field)) continue;
    seen.add(fe.field);
    out.push(fe);
  }
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
