/**
 * The external system's side: report the outcome of an attempt to its signed `callbackUrl`, and progress to its
 * `heartbeatUrl` (both from the trigger body, `TriggerBody`). The URLs carry their own signature: no token is sent.
 */
import type { CallbackBody, CallbackResult } from '@tether/machine/protocol';
import { TetherError } from './errors.ts';
import { send, type FetchLike } from './http.ts';

export interface ExternalOptions {
  fetch?: FetchLike;
  signal?: AbortSignal;
}

const defaultFetch: FetchLike = (input, init) => globalThis.fetch(input, init);

/**
 * The webhook answers every verdict as a `CallbackResult`. 2xx (`accepted`, `duplicate`) is returned; any other is
 * thrown as TetherError `TETHER_<KIND>_<RESULT>` (`TETHER_CALLBACK_LATE` for 410, `TETHER_CALLBACK_CONFLICT`,
 * `TETHER_CALLBACK_INVALID` with `fields`…) whose `body` is the CallbackResult.
 */
const verdictError = (kind: 'CALLBACK' | 'HEARTBEAT') => (status: number, body: unknown) => {
  const r = body as Partial<CallbackResult> | null;
  if (typeof r?.result !== 'string') return undefined;
  return new TetherError(`TETHER_${kind}_${r.result.toUpperCase()}`, r.message ?? `${kind.toLowerCase()} answered ${status} ${r.result}`, {
    status,
    fields: Array.isArray(r.fields) ? r.fields : [],
    body,
  });
};

/** POSTs the attempt's outcome (`{ success, message?, output?, retryable? }`, or a bare boolean) to `callbackUrl` as given. */
export async function callback(callbackUrl: string, body: CallbackBody, opts: ExternalOptions = {}): Promise<CallbackResult> {
  const a = await send<CallbackResult>(
    opts.fetch ?? defaultFetch,
    { method: 'POST', url: callbackUrl, json: body, ...(opts.signal ? { signal: opts.signal } : {}) },
    verdictError('CALLBACK'),
  );
  return a.body;
}

/** POSTs a heartbeat (with `progress`, any JSON, when given) to `heartbeatUrl` as given. */
export async function heartbeat(heartbeatUrl: string, progress?: unknown, opts: ExternalOptions = {}): Promise<CallbackResult> {
  const a = await send<CallbackResult>(
    opts.fetch ?? defaultFetch,
    { method: 'POST', url: heartbeatUrl, json: progress === undefined ? {} : { progress }, ...(opts.signal ? { signal: opts.signal } : {}) },
    verdictError('HEARTBEAT'),
  );
  return a.body;
}
