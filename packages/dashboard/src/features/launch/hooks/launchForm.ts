/**
 * The launch form's values (strings, as typed) and their translation into a `RunConfig`, validated by the shared
 * `parseRunConfig` so the form rejects exactly what the server would — before a request is sent — and every error at
 * once, each by the control it is about.
 */
import { parseRunConfig, type FieldError } from '@tether/machine';
import type { ErrorField, RunConfig } from '@tether/machine/protocol';
import { simulateErrors, simulatorUrl } from '../../../lib/simulator.ts';
import { PRESETS, type Preset } from './presets.ts';

export interface LaunchValues {
  name: string;
  url: string;
  method: 'POST' | 'PUT';
  headers: string;
  payload: string;
  timeoutSeconds: string;
  retryLimit: string;
  initialSeconds: string;
  multiplier: string;
  maxSeconds: string;
  jitter: 'none' | 'full' | 'equal';
  heartbeatTimeoutSeconds: string;
  deadlineSeconds: string;
  triggerTimeoutSeconds: string;
}

/** Form control → the RunConfig path it edits (the `field` of server and client errors), in the form's order. */
export const FIELD_PATHS: Record<keyof LaunchValues, string> = {
  name: 'name',
  method: 'target.method',
  url: 'target.url',
  headers: 'target.headers',
  payload: 'payload',
  timeoutSeconds: 'timeoutSeconds',
  retryLimit: 'retryLimit',
  heartbeatTimeoutSeconds: 'heartbeatTimeoutSeconds',
  deadlineSeconds: 'deadlineSeconds',
  triggerTimeoutSeconds: 'triggerTimeoutSeconds',
  initialSeconds: 'backoff.initialSeconds',
  multiplier: 'backoff.multiplier',
  maxSeconds: 'backoff.maxSeconds',
  jitter: 'backoff.jitter',
};

/** Each control's label, as the error summary names it. */
export const FIELD_LABELS: Record<keyof LaunchValues, string> = {
  name: 'Name',
  url: 'Target URL',
  method: 'Method',
  headers: 'Headers',
  payload: 'Payload',
  timeoutSeconds: 'Timeout per attempt',
  retryLimit: 'Retry limit',
  initialSeconds: 'Initial delay',
  multiplier: 'Multiplier',
  maxSeconds: 'Max delay',
  jitter: 'Jitter',
  heartbeatTimeoutSeconds: 'Heartbeat timeout',
  deadlineSeconds: 'Run deadline',
  triggerTimeoutSeconds: 'Trigger timeout',
};

/** Which form control shows an error for `field`: the control whose path is the longest prefix of it. */
export function controlFor(field: string): keyof LaunchValues | null {
  let best: keyof LaunchValues | null = null;
  let bestLen = -1;
  for (const [key, path] of Object.entries(FIELD_PATHS) as Array<[keyof LaunchValues, string]>) {
    if ((field === path || field.startsWith(`${path}.`)) && path.length > bestLen) {
      best = key;
      bestLen = path.length;
    }
  }
  // `backoff` as a whole (e.g. "backoff must be an object") belongs with its first control.
  if (!best && field === 'backoff') return 'initialSeconds';
  if (!best && field === 'target') return 'url';
  return best;
}

export function valuesFromPreset(preset: Preset, origin: string, base?: LaunchValues): LaunchValues {
  const start: LaunchValues = base ?? {
    name: '',
    url: simulatorUrl(origin),
    method: 'POST',
    headers: '',
    payload: '',
    timeoutSeconds: '',
    retryLimit: '',
    initialSeconds: '',
    multiplier: '2',
    maxSeconds: '300',
    jitter: 'none',
    heartbeatTimeoutSeconds: '',
    deadlineSeconds: '',
    triggerTimeoutSeconds: '',
  };
  return {
    ...start,
    // Keep a name the person typed; replace one that only came from another preset.
    name: start.name && !PRESETS.some((p) => p.label.toLowerCase() === start.name) ? start.name : preset.label.toLowerCase(),
    payload: JSON.stringify({ simulate: preset.simulate }, null, 2),
    timeoutSeconds: String(preset.timing.timeoutSeconds),
    retryLimit: String(preset.timing.retryLimit),
    initialSeconds: String(preset.timing.initialSeconds),
  };
}

type Built = { config: RunConfig; errors: [] } | { config: null; errors: FieldError[] };

/** A number as typed: empty is absent (the shared parser says whether that is allowed), anything else must parse. */
function num(values: LaunchValues, key: keyof LaunchValues, errors: FieldError[]): number | undefined {
  const raw = String(values[key]).trim();
  if (raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) {
    errors.push({ field: FIELD_PATHS[key], message: 'must be a number' });
    return undefined;
  }
  return n;
}

function json(raw: string, field: string, errors: FieldError[]): unknown {
  try {
    return JSON.parse(raw);
  } catch (e) {
    errors.push({ field, message: `is not valid JSON: ${(e as Error).message}` });
    return undefined;
  }
}

/** `a` is `b` or inside it, or the other way round: one error about either is enough for the reader. */
const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);

/**
 * The config the values describe, or every error in them at once: what the form itself cannot read (a number that is
 * not one, JSON that does not parse), then everything the shared `parseRunConfig` refuses in the rest, then the
 * simulator's own spec when the run is aimed at it. A field the form could not read is left out of the config, so the
 * parser's "is required" about it would only repeat the form's error: it is dropped.
 */
export function buildConfig(values: LaunchValues): Built {
  const own: FieldError[] = [];
  const config: Record<string, unknown> = {};
  if (values.name.trim()) config.name = values.name.trim();

  const target: Record<string, unknown> = { url: values.url.trim(), method: values.method };
  if (values.headers.trim()) {
    const h = json(values.headers, 'target.headers', own);
    if (h !== undefined) target.headers = h;
  }
  config.target = target;

  if (values.payload.trim()) {
    const p = json(values.payload, 'payload', own);
    if (p !== undefined) config.payload = p;
  }

  const timeout = num(values, 'timeoutSeconds', own);
  if (timeout !== undefined) config.timeoutSeconds = timeout;
  const retryLimit = num(values, 'retryLimit', own);
  if (retryLimit !== undefined) config.retryLimit = retryLimit;

  const backoff: Record<string, unknown> = { jitter: values.jitter };
  const initial = num(values, 'initialSeconds', own);
  if (initial !== undefined) backoff.initialSeconds = initial;
  const multiplier = num(values, 'multiplier', own);
  if (multiplier !== undefined) backoff.multiplier = multiplier;
  const max = num(values, 'maxSeconds', own);
  if (max !== undefined) backoff.maxSeconds = max;
  config.backoff = backoff;

  for (const key of ['heartbeatTimeoutSeconds', 'deadlineSeconds', 'triggerTimeoutSeconds'] as const) {
    const v = num(values, key, own);
    if (v !== undefined) config[key] = v;
  }

  const parsed = parseRunConfig(config);
  const shared = parsed.ok ? [] : parsed.errors.filter((e) => !own.some((o) => overlaps(o.field, e.field)));
  const errors = [...own, ...shared, ...simulateErrors(String(target.url), config.payload)];
  if (errors.length) return { config: null, errors };
  // Send what was typed, not the defaults filled in by parsing: the server resolves defaults itself.
  return { config: config as RunConfig, errors: [] };
}

/** The server's `fields` in the form's terms (the same dotted paths the shared parser names). */
export const fromServer = (fields: readonly ErrorField[]): FieldError[] => fields.map((f) => ({ field: f.path, message: f.message }));

export interface ErrorsByControl {
  /** Each control's errors, in the order given (several when a control has several: each bad header, say). */
  byControl: Partial<Record<keyof LaunchValues, string[]>>;
  /** The controls with an error, in form order: what the error summary lists. */
  controls: Array<keyof LaunchValues>;
  /** Errors no control is about (a field the form has no control for): shown in the summary as they are. */
  other: string[];
}

/** Every error, by the control that shows it; each is `<field> <rule>`, naming the field the server would. */
export function errorsByControl(errors: readonly FieldError[]): ErrorsByControl {
  const byControl: Partial<Record<keyof LaunchValues, string[]>> = {};
  const other: string[] = [];
  for (const e of errors) {
    const control = controlFor(e.field);
    const text = `${e.field} ${e.message}`;
    if (control) {
      const list = (byControl[control] ??= []);
      if (!list.includes(text)) list.push(text);
    } else if (!other.includes(text)) other.push(text);
  }
  const controls = (Object.keys(FIELD_PATHS) as Array<keyof LaunchValues>).filter((k) => byControl[k]);
  return { byControl, controls, other };
}
