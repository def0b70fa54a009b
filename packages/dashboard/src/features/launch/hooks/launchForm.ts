/**
 * The launch form's values (strings, as typed) and their translation into a `RunConfig`, validated by the shared
 * `parseRunConfig` so the form rejects exactly what the server would — before a request is sent.
 */
import { parseRunConfig, type FieldError } from '@tether/machine';
import type { ErrorField, RunConfig } from '@tether/machine/protocol';
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

/** Form control → the RunConfig path it edits (the `field` of server and client errors). */
export const FIELD_PATHS: Record<keyof LaunchValues, string> = {
  name: 'name',
  url: 'target.url',
  method: 'target.method',
  headers: 'target.headers',
  payload: 'payload',
  timeoutSeconds: 'timeoutSeconds',
  retryLimit: 'retryLimit',
  initialSeconds: 'backoff.initialSeconds',
  multiplier: 'backoff.multiplier',
  maxSeconds: 'backoff.maxSeconds',
  jitter: 'backoff.jitter',
  heartbeatTimeoutSeconds: 'heartbeatTimeoutSeconds',
  deadlineSeconds: 'deadlineSeconds',
  triggerTimeoutSeconds: 'triggerTimeoutSeconds',
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

export const simulatorUrl = (origin: string): string => `${origin}/simulator/jobs`;

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

function num(values: LaunchValues, key: keyof LaunchValues, errors: FieldError[], required: boolean): number | undefined {
  const raw = String(values[key]).trim();
  if (raw === '') {
    if (required) errors.push({ field: FIELD_PATHS[key], message: 'is required' });
    return undefined;
  }
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

export function buildConfig(values: LaunchValues): Built {
  const errors: FieldError[] = [];
  const config: Record<string, unknown> = {};
  if (values.name.trim()) config.name = values.name.trim();

  const target: Record<string, unknown> = { url: values.url.trim(), method: values.method };
  if (values.headers.trim()) {
    const h = json(values.headers, 'target.headers', errors);
    if (h !== undefined) target.headers = h;
  }
  config.target = target;

  if (values.payload.trim()) {
    const p = json(values.payload, 'payload', errors);
    if (p !== undefined) config.payload = p;
  }

  const timeout = num(values, 'timeoutSeconds', errors, true);
  if (timeout !== undefined) config.timeoutSeconds = timeout;
  const retryLimit = num(values, 'retryLimit', errors, true);
  if (retryLimit !== undefined) config.retryLimit = retryLimit;

  const backoff: Record<string, unknown> = { jitter: values.jitter };
  const initial = num(values, 'initialSeconds', errors, false);
  if (initial !== undefined) backoff.initialSeconds = initial;
  const multiplier = num(values, 'multiplier', errors, false);
  if (multiplier !== undefined) backoff.multiplier = multiplier;
  const max = num(values, 'maxSeconds', errors, false);
  if (max !== undefined) backoff.maxSeconds = max;
  config.backoff = backoff;

  for (const key of ['heartbeatTimeoutSeconds', 'deadlineSeconds', 'triggerTimeoutSeconds'] as const) {
    const v = num(values, key, errors, false);
    if (v !== undefined) config[key] = v;
  }

  if (errors.length) return { config: null, errors };
  const parsed = parseRunConfig(config);
  if (!parsed.ok) return { config: null, errors: parsed.errors };
  // Send what was typed, not the defaults filled in by parsing: the server resolves defaults itself.
  return { config: config as RunConfig, errors: [] };
}

/** The server's `fields` in the form's terms (the same dotted paths the shared parser names). */
export const fromServer = (fields: readonly ErrorField[]): FieldError[] => fields.map((f) => ({ field: f.path, message: f.message }));

/** Every error, by the control that shows it (several per control when a control has several: each header, say). */
export function errorsByControl(errors: readonly FieldError[]): { byControl: Partial<Record<keyof LaunchValues, string[]>>; other: string[] } {
  const byControl: Partial<Record<keyof LaunchValues, string[]>> = {};
  const other: string[] = [];
  for (const e of errors) {
    const control = controlFor(e.field);
    const text = `${e.field} ${e.message}`;
    if (control) (byControl[control] ??= []).push(text);
    else other.push(text);
  }
  return { byControl, other };
}
