/** The one error the client throws: the server's `{ error: { code, message, fields? } }`, or a client-side code. */
import type { ErrorBody, ErrorField } from '@tether/machine/protocol';

/** Codes the client makes up itself; every other code is the server's (`TETHER_VALIDATION`, `TETHER_RUN_NOT_FOUND`…). */
export const CLIENT_ERROR_CODES = {
  /** The request never got an answer: connection refused or reset, DNS, TLS, an aborted fetch. `status` is 0. */
  network: 'TETHER_CLIENT_NETWORK',
  /** `result()` gave up: the run was not final within `timeoutMs`. `status` is 0. */
  timeout: 'TETHER_CLIENT_TIMEOUT',
  /** An answer that is not Tether's: not JSON, or an error status without an `{ error }` body (a proxy's 502 page). */
  badResponse: 'TETHER_CLIENT_BAD_RESPONSE',
  /** `verifyNotification`: no `Tether-Signature` header. */
  signatureMissing: 'TETHER_SIGNATURE_MISSING',
  /** `verifyNotification`: a malformed header, or no `v1=` signature that matches the body. */
  signatureInvalid: 'TETHER_SIGNATURE_INVALID',
  /** `verifyNotification`: the signature matches but its timestamp is further from now than the tolerance. */
  signatureStale: 'TETHER_SIGNATURE_STALE',
  /** `verifyNotification`: correctly signed, but the body is not a notification object. */
  notificationInvalid: 'TETHER_NOTIFICATION_INVALID',
} as const;

export interface TetherErrorOptions {
  /** HTTP status of the answer; 0 when there was none (network, timeout, signature checks). */
  status?: number;
  fields?: readonly ErrorField[];
  /** The parsed answer body, when there was one (e.g. a callback's `CallbackResult` for a `410 late`). */
  body?: unknown;
  cause?: unknown;
}

export class TetherError extends Error {
  override readonly name = 'TetherError';
  /** Stable code: the server's (`TETHER_VALIDATION`…) or the client's (`TETHER_CLIENT_NETWORK`…). */
  readonly code: string;
  /** HTTP status; 0 when no answer was received. */
  readonly status: number;
  /** Every field the request got wrong, as the server listed them; empty for errors not about fields. */
  readonly fields: readonly ErrorField[];
  readonly body: unknown;

  constructor(code: string, message: string, opts: TetherErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.status = opts.status ?? 0;
    this.fields = opts.fields ? [...opts.fields] : [];
    this.body = opts.body;
  }

  /** True when the server answered (an API error), false for network failures and the client's own checks. */
  get isApiError(): boolean {
    return this.status > 0;
  }
}

export const isTetherError = (e: unknown): e is TetherError => e instanceof TetherError;

const isErrorField = (f: unknown): f is ErrorField =>
  typeof f === 'object' && f !== null && typeof (f as ErrorField).path === 'string' && typeof (f as ErrorField).message === 'string';

/** The `{ error }` body of an API error, if `body` is one. */
export function errorBodyOf(body: unknown): ErrorBody['error'] | undefined {
  const e = (body as { error?: unknown } | null | undefined)?.error;
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, message, fields } = e as Record<string, unknown>;
  if (typeof code !== 'string' || typeof message !== 'string') return undefined;
  return { code, message, ...(Array.isArray(fields) ? { fields: fields.filter(isErrorField) } : {}) };
}
