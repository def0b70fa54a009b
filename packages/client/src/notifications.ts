/**
 * Completion webhooks ("notifications") from Tether to your service, signed like Stripe's:
 *
 *   Tether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * Several `v1=` entries may be present (while a secret is rotated, one per secret); any one that matches will do.
 * Unknown keys are ignored, so a later scheme (`v2=`) can be added beside v1. Web Crypto only (`crypto.subtle`, in
 * Node 20 and every browser), so this file runs anywhere.
 */
import type { RunFinishedNotification } from '@tether/machine/protocol';
import { CLIENT_ERROR_CODES, TetherError } from './errors.ts';

/** The header Tether signs notifications with. */
export const SIGNATURE_HEADER = 'Tether-Signature';
/** How far the signature's timestamp may be from now, by default: 5 minutes. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** `run.finished`: sent once a run reaches a final status (succeeded, failed or cancelled); the wire schema's type. */
export type { RunFinishedNotification };
export type TetherNotification = RunFinishedNotification;

export type HeaderBag = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** Largest |now − t| accepted, in seconds. @default 300. `Infinity` turns the check off (not recommended). */
  toleranceSeconds?: number;
  /** "Now", as a Date or epoch milliseconds (`Date.now()`). @default the current time */
  now?: Date | number;
}

const encoder = new TextEncoder();

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('Web Crypto (globalThis.crypto.subtle) is not available: Node 20+ or a secure browser context is needed');
  return s;
}

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await subtle().importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await subtle().sign('HMAC', key, encoder.encode(message)));
  let hex = '';
  for (const b of mac) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/**
 * Compares two strings in time that depends only on their lengths. The expected one is always 64 hex characters, so
 * a length is all that could leak, and it is public.
 */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * The `Tether-Signature` header value for `rawBody` signed at `t` (unix seconds): `t=<t>,v1=<hex>`. Used by the tests,
 * and by the server when it sends notifications.
 */
export async function signNotification(secret: string, rawBody: string, t: number): Promise<string> {
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError(`t must be a non-negative integer of unix seconds, got ${t}`);
  return `t=${t},v1=${await hmacHex(secret, `${t}.${rawBody}`)}`;
}

function headerValue(headers: HeaderBag): string | undefined {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') {
    return (headers as Headers).get(SIGNATURE_HEADER) ?? undefined;
  }
  const wanted = SIGNATURE_HEADER.toLowerCase();
  const values: string[] = [];
  for (const [k, v] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (k.toLowerCase() !== wanted || v === undefined) continue;
    values.push(...(Array.isArray(v) ? v : [v]));
  }
  // Several header lines mean the same as one line joined by commas (RFC 9110 §5.3).
  return values.length ? values.join(',') : undefined;
}

interface ParsedSignature {
  t: number;
  v1: string[];
}

function parseSignature(value: string): ParsedSignature | undefined {
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const val = part.slice(eq + 1).trim();
    if (key === 't') {
      if (t !== undefined || !/^\d{1,15}$/.test(val)) return undefined;
      t = Number(val);
    } else if (key === 'v1') v1.push(val.toLowerCase());
  }
  return t === undefined || v1.length === 0 ? undefined : { t, v1 };
}

const signatureError = (code: string, message: string) => new TetherError(code, message, { status: 0 });

/**
 * Checks a notification's `Tether-Signature` against `rawBody` — the body exactly as received, before any JSON
 * parsing (a re-serialised body does not verify) — and returns the parsed notification.
 *
 * Throws TetherError: `TETHER_SIGNATURE_MISSING` (no header), `TETHER_SIGNATURE_INVALID` (malformed header, or no
 * `v1` matches), `TETHER_SIGNATURE_STALE` (a matching signature whose `t` is more than `toleranceSeconds` from now: a
 * replay), `TETHER_NOTIFICATION_INVALID` (signed, but not a JSON object with a string `type`).
 */
export async function verifyNotification(secret: string, headers: HeaderBag, rawBody: string, opts: VerifyOptions = {}): Promise<TetherNotification> {
  const tolerance = opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const value = headerValue(headers);
  if (value === undefined || value.trim() === '') {
    throw signatureError(CLIENT_ERROR_CODES.signatureMissing, `The ${SIGNATURE_HEADER} header is missing.`);
  }
  const sig = parseSignature(value);
  if (!sig)
    throw signatureError(CLIENT_ERROR_CODES.signatureInvalid, `The ${SIGNATURE_HEADER} header is malformed: expected t=<unix seconds>,v1=<hex>.`);

  const expected = await hmacHex(secret, `${sig.t}.${rawBody}`);
  // Every candidate is compared, whether or not an earlier one matched.
  let matched = false;
  for (const candidate of sig.v1) matched = constantTimeEqual(expected, candidate) || matched;
  if (!matched) throw signatureError(CLIENT_ERROR_CODES.signatureInvalid, `No ${SIGNATURE_HEADER} v1 signature matches the body.`);

  const nowMs = opts.now === undefined ? Date.now() : typeof opts.now === 'number' ? opts.now : opts.now.getTime();
  const skew = Math.abs(nowMs / 1000 - sig.t);
  if (skew > tolerance) {
    throw signatureError(
      CLIENT_ERROR_CODES.signatureStale,
      `The ${SIGNATURE_HEADER} timestamp is ${Math.round(skew)} s from now, over the tolerance of ${tolerance} s.`,
    );
  }

  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    throw signatureError(CLIENT_ERROR_CODES.notificationInvalid, 'The notification body is not JSON.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof (body as { type?: unknown }).type !== 'string') {
    throw signatureError(CLIENT_ERROR_CODES.notificationInvalid, 'The notification body is not an object with a string "type".');
  }
  return body as TetherNotification;
}
