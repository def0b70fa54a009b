import type { CallbackResult, CancelBody, CompleteBody, EventList, RerunBody, Run } from '@tether/machine/protocol';
import { api } from '../../../lib/http.ts';

const base = (id: string) => `/api/runs/${encodeURIComponent(id)}`;

export const getRun = (id: string, signal?: AbortSignal) => api<Run>(base(id), signal ? { signal } : {});
export const getEvents = (id: string, signal?: AbortSignal) => api<EventList>(`${base(id)}/events`, signal ? { signal } : {}).then((r) => r.events);

export const cancelRun = (id: string, reason?: string) =>
  api<Run>(`${base(id)}/cancel`, { method: 'POST', body: (reason ? { reason } : {}) satisfies CancelBody });
export const retryNow = (id: string) => api<Run>(`${base(id)}/retry-now`, { method: 'POST', body: {} });
export const rerun = (id: string, payload?: unknown) =>
  api<Run>(`${base(id)}/rerun`, { method: 'POST', body: (payload === undefined ? {} : { payload }) satisfies RerunBody });

export const completeAttempt = (id: string, attemptId: string, body: CompleteBody) =>
  api<Run>(`${base(id)}/attempts/${encodeURIComponent(attemptId)}/complete`, { method: 'POST', body });
export const timeoutAttempt = (id: string, attemptId: string) =>
  api<Run>(`${base(id)}/attempts/${encodeURIComponent(attemptId)}/timeout`, { method: 'POST', body: {} });

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
export const redeliverNotification = (id: string) => api<Run>(`${base(id)}/notification/redeliver`, { method: 'POST', body: {} });
