import type { TSchema } from 'typebox';
import { Settings } from 'typebox/system';
import { Compile } from 'typebox/compile';
import { RunConfig, type ResolvedRunConfig } from './protocol/run-config.ts';

/**
 * How many raw schema errors TypeBox gathers for one value. Its default is 8, a guard against values that would make
 * it buffer without end; a 400 that lists every field needs more (a field can take several: an unknown key is reported
 * twice, a literal union once per literal), still bounded. Process-wide, on purpose: the server's request validator
 * (TypeBox's compiler) and `parseRunConfig` share this module's translator and must see the same errors.
 */
export const MAX_SCHEMA_ERRORS = 256;
Settings.Set({ maxErrors: MAX_SCHEMA_ERRORS });

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
const TETHER_HEADERS = new Set(['content-type', 'idempotency-key', 'tether-signature']);
/**
 * Headers the HTTP client manages for the connection and the body's framing (RFC 9110 §7.6.1 hop-by-hop, Host,
 * Content-Length, Expect): undici refuses content-length (mismatch), transfer-encoding, keep-alive, upgrade and expect
 * outright, and drops host silently (the target URL decides, and TETHER_ALLOWED_TARGETS checks that URL); the rest mean
 * nothing on a single request. None can be set per run.
 */
const CLIENT_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-connection',
]);

const codePoint = (c: string): string => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** What is wrong with one header of `target` or `notify` (`of`), or null. The field is `<of>.headers.<name>` as given. */
function headerError(name: string, value: string, seen: Map<string, string>, of = 'target'): FieldError | null {
  if (name === '') return { field: `${of}.headers`, message: 'has a header with an empty name' };
  const field = `${of}.headers.${name}`;
  if (!HEADER_NAME.test(name)) return { field, message: 'is not a valid header name' };
  const lower = name.toLowerCase();
  if (TETHER_HEADERS.has(lower)) return { field, message: 'is set by Tether and cannot be overridden' };
  if (CLIENT_HEADERS.has(lower)) return { field, message: 'is managed by the HTTP client and cannot be set per run' };
  const first = seen.get(lower);
  if (first !== undefined) return { field, message: `repeats ${of}.headers.${first} (header names are case-insensitive)` };
  seen.set(lower, name);
  const ctl = HEADER_VALUE_CTL.exec(value);
  if (ctl) return { field, message: `value contains a control character (${codePoint(ctl[0])} at position ${ctl.index})` };
  const wide = HEADER_VALUE_WIDE.exec(value);
  if (wide)
    return {
      field,
      message: `value contains a character outside Latin-1 (${codePoint(wide[0])} at position ${wide.index}); header values are bytes`,
    };
  return null;
}

export const pathToField = (instancePath: string): string => (instancePath === '' ? '(body)' : instancePath.replace(/^\//, '').replace(/\//g, '.'));

/**
 * One schema error as TypeBox reports it (`Value.Errors`, `Compile(schema).Errors`). The server validates requests with
 * the TypeBox compiler, so Fastify hands on errors of this same shape: one translator (`fieldErrorsOf`) serves both.
 */
export interface SchemaError {
  keyword?: string;
  schemaPath?: string;
  instancePath: string;
  params?: unknown;
  message?: string;
}

/** Every field error one raw error stands for: a `required` error names all its missing fields, each on its own. */
function describe(e: SchemaError): FieldError[] {
  const params = (e.params ?? {}) as { requiredProperties?: string[]; additionalProperties?: string[] };
  const base = e.instancePath === '' ? '' : `${pathToField(e.instancePath)}.`;
  if (params.requiredProperties?.length) return params.requiredProperties.map((p) => ({ field: `${base}${p}`, message: 'is required' }));
  if (params.additionalProperties?.length) return params.additionalProperties.map((p) => ({ field: `${base}${p}`, message: 'is not a known field' }));
  // TypeBox 1.x also reports the extra property itself against `additionalProperties: false` ("schema is false").
  if (e.keyword === 'boolean' && e.schemaPath?.endsWith('/additionalProperties'))
    return [{ field: pathToField(e.instancePath), message: 'is not a known field' }];
  return [{ field: pathToField(e.instancePath), message: e.message ?? 'is invalid' }];
}

/** A literal union fails once per literal ("must be equal to constant"): say which values are allowed instead. */
const allowedValueOf = (e: SchemaError): unknown[] =>
  e.keyword === 'const' && e.params !== null && typeof e.params === 'object' && 'allowedValue' in e.params
    ? [(e.params as { allowedValue: unknown }).allowedValue]
    : [];

/** `/anyOf/<n>` in a schema path: the error is about branch n of that union. */
const UNION_BRANCH = /\/anyOf\/(\d+)(?=\/|$)/;

/** A branch the value did not even have the type of: `must be boolean` for an object, a literal it is not. */
const missesAt = (errors: readonly SchemaError[], at: string): boolean =>
  errors.every((e) => (e.keyword === 'type' || e.keyword === 'const') && e.instancePath === at);

/**
 * A union reports the errors of every branch it tried. An object sent to `{…} | true` fails the object branch on a
 * field and the boolean branch on its type; only the first says anything useful. So, per union: keep the branches the
 * value had the type of (recursively, for unions inside them); when it had none, one error listing what it may be.
 * Literal unions (every branch a `const`) are kept as they are, to be merged into "must be one of …".
 */
function closestBranches(errors: readonly SchemaError[], from = 0): SchemaError[] {
  const out: SchemaError[] = [];
  const unions = new Map<string, Map<number, { end: number; errors: SchemaError[] }>>();
  for (const e of errors) {
    const path = e.schemaPath ?? '';
    const m = UNION_BRANCH.exec(path.slice(from));
    if (!m) {
      out.push(e);
      continue;
    }
    const union = path.slice(0, from + m.index);
    let branches = unions.get(union);
    if (!branches) unions.set(union, (branches = new Map()));
    const n = Number(m[1]);
    let branch = branches.get(n);
    if (!branch) branches.set(n, (branch = { end: from + m.index + m[0].length, errors: [] }));
    branch.errors.push(e);
  }
  for (const [union, branches] of unions) {
    const all = [...branches.values()];
    // The union's own summary ("must match a schema in anyOf") says where the union sits; it says nothing more.
    const at =
      out.find((e) => e.keyword === 'anyOf' && e.schemaPath === union)?.instancePath ??
      all.flatMap((b) => b.errors).reduce((a, e) => (e.instancePath.length < a.length ? e.instancePath : a), all[0]!.errors[0]!.instancePath);
    const near = all.filter((b) => !missesAt(b.errors, at));
    if (near.length) {
      for (const b of near) out.push(...closestBranches(b.errors, b.end));
      continue;
    }
    const flat = all.flatMap((b) => b.errors);
    if (flat.every((e) => e.keyword === 'const')) {
      out.push(...flat);
      continue;
    }
    const kinds = flat.map((e) =>
      e.keyword === 'const' ? JSON.stringify(allowedValueOf(e)[0]) : String((e.params as { type?: unknown } | undefined)?.type ?? 'valid'),
    );
    out.push({ keyword: 'type', schemaPath: union, instancePath: at, message: `must be ${[...new Set(kinds)].join(' or ')}` });
  }
  // Every summary is redundant once its branches have spoken (TypeBox always reports them alongside).
  return out.filter((e) => e.keyword !== 'anyOf' || out.length === 1);
}

/** Deepest paths first: "backoff.jitter must be one of …" says more than "(body) …". Stable, so equals keep their order. */
const deepestFirst = (errors: FieldError[]): FieldError[] =>
  errors
    .map((e, i) => [e, i] as const)
    .sort(([a, i], [b, j]) => b.field.split('.').length - a.field.split('.').length || i - j)
    .map(([e]) => e);

/**
 * The one translator of schema errors into field errors: one per field (every field, not just the first), named by
 * its dotted path, most specific first. Used by `parseRunConfig` and by the server for every request it validates.
 */
export function fieldErrorsOf(errors: readonly SchemaError[]): FieldError[] {
  const byField = new Map<string, { error: FieldError; allowed: unknown[] }>();
  for (const e of closestBranches(errors)) {
    for (const fe of describe(e)) {
      const seen = byField.get(fe.field);
      if (seen) seen.allowed.push(...allowedValueOf(e));
      else byField.set(fe.field, { error: fe, allowed: allowedValueOf(e) });
    }
  }
  return deepestFirst(
    [...byField.values()].map(({ error, allowed }): FieldError =>
      allowed.length === 0
        ? error
        : { field: error.field, message: `must be ${allowed.length > 1 ? 'one of ' : ''}${allowed.map((v) => JSON.stringify(v)).join(', ')}` },
    ),
  );
}

type Validator = ReturnType<typeof Compile<TSchema>>;
/** Compiled once per schema object (TypeBox falls back to its interpreter where code generation is not allowed). */
const validators = new WeakMap<TSchema, Validator>();

/**
 * Structural errors of a value against a schema, one per field, most specific first. The compiled check decides
 * (~1 µs for a run config); the errors are computed only for a value that fails: walking them for every valid
 * launch was ~80 µs, the largest part of parsing a config (B8's profile).
 */
export const schemaErrors = (schema: TSchema, value: unknown): FieldError[] => {
  let v = validators.get(schema);
  if (!v) validators.set(schema, (v = Compile(schema)));
  return v.Check(value) ? [] : fieldErrorsOf(v.Errors(value));
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Rules a JSON schema cannot say. They run on a config the schema may have refused, so that every error is reported
 * at once; each rule reads only fields of the right type, and none whose field (or a parent of it) already has an error.
 */
function ruleErrors(input: Record<string, unknown>, structural: readonly FieldError[]): FieldError[] {
  const broken = (field: string) => structural.some((e) => e.field === field || field.startsWith(`${e.field}.`));
  const errors: FieldError[] = [];
  // The trigger's target and the completion webhook follow the same rules: an http(s) URL, headers fetch can send.
  for (const of of ['target', 'notify'] as const) {
    const endpoint = isRecord(input[of]) ? (input[of] as Record<string, unknown>) : {};
    if (typeof endpoint.url === 'string' && !broken(`${of}.url`)) {
      let url: URL | undefined;
      try {
        url = new URL(endpoint.url);
      } catch {
        errors.push({ field: `${of}.url`, message: 'must be an absolute URL' });
      }
      if (url && url.protocol !== 'http:' && url.protocol !== 'https:') errors.push({ field: `${of}.url`, message: 'must use http or https' });
      if (url && (url.username || url.password)) errors.push({ field: `${of}.url`, message: `must not carry credentials; use ${of}.headers` });
    }
    if (isRecord(endpoint.headers) && !broken(`${of}.headers`)) {
      const seen = new Map<string, string>();
      for (const [name, value] of Object.entries(endpoint.headers)) {
        if (typeof value !== 'string' || broken(`${of}.headers.${name}`)) continue;
        const e = headerError(name, value, seen, of);
        if (e) errors.push(e);
      }
    }
  }
  const b = { ...BACKOFF_DEFAULTS, ...(isRecord(input.backoff) ? input.backoff : {}) };
  if (
    typeof b.maxSeconds === 'number' &&
    typeof b.initialSeconds === 'number' &&
    !broken('backoff.maxSeconds') &&
    !broken('backoff.initialSeconds') &&
    b.maxSeconds < b.initialSeconds
  )
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

/**
 * Validates a RunConfig; errors name the field and the rule, every one at once (schema and rules together, most
 * specific first). On success, defaults are filled in.
 */
export function parseRunConfig(input: unknown): ParseResult<ResolvedRunConfig> {
  if (!isRecord(input)) return { ok: false, errors: [{ field: '(body)', message: 'must be a JSON object' }] };
  const structural = schemaErrors(RunConfig, input);
  const errors = deepestFirst([...structural, ...ruleErrors(input, structural)]);
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: resolveRunConfig(input as RunConfig) };
}

export const formatFieldErrors = (errors: FieldError[]): string => errors.map((e) => `${e.field} ${e.message}`).join('; ');
