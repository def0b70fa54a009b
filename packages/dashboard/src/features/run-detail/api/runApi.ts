import type { CallbackResult, CompleteBody } from '@tether/machine/protocol';
import { runsApi } from '../../../lib/tether.ts';

export const getRun = (id: string, signal?: AbortSignal) => runsApi((runs) => runs.get(id, signal ? { signal } : {}), signal);
export const getEvents = (id: string, signal?: AbortSignal) => runsApi((runs) => runs.events(id, signal ? { signal } : {}), signal);

/** An empty reason is none: `{}` is sent. */
export const cancelRun = (id: string, reason?: string) => runsApi((runs) => runs.cancel(id, reason || undefined));
export const retryNow = (id: string) => runsApi((runs) => runs.retryNow(id));
export const rerun = (id: string, payload?: unknown) => runsApi((runs) => runs.rerun(id, payload === undefined ? {} : { payload }));

export const completeAttempt = (id: string, attemptId: string, body: CompleteBody) => runsApi((runs) => runs.complete(id, attemptId, body));
export const timeoutAttempt = (id: string, attemptId: string) => runsApi((runs) => runs.forceTimeout(id, attemptId));

export interface CallbackAnswer {
  status: number;
  body: CallbackResult | string | null;
}

/**
 * POST to a signed callback URL as the external system would. The URL is absolute (TETHER_PUBLIC_URL); it is sent to
 * this page's origin with the same path and signature, so it also works behind the dev server's proxy.
 */
export async function sendAsExternalSystem(callbackUrl: string, body: unknown): Promise<CallbackAnswer> {
  const u = new URL(callbackUrl);
  const res = await fetch(u.pathname + u.search, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: CallbackResult | string | null = text || null;
  try {
    parsed = text ? (JSON.parse(text) as CallbackResult) : null;
  } catch {
    /* keep the text */
  }
  return { status: res.status, body: parsed };
}

/** The same URL with its signature altered: what a forger or a copy-paste mistake sends. */
export function tamperSignature(callbackUrl: string): string {
  const u = new URL(callbackUrl);
  const sig = u.searchParams.get('sig') ?? '';
  const flipped = sig ? `${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}` : 'forged';
  u.searchParams.set('sig', flipped);
  return u.toString();
}

/** Delivers the run's completion webhook again (202 with the run). */
export const redeliverNotification = (id: string) => runsApi((runs) => runs.redeliverNotification(id));
