/**
 * The completion webhook's rules, pure: when a run with `config.notify` becomes final, the same commit makes its
 * delivery pending (durable with the final transition: a crash right after it still delivers); each try's outcome is
 * a recorded log entry and moves the delivery on — delivered on a 2xx, given up on a 410 or when the tries run out,
 * otherwise due again after a backoff. Nothing here touches the machine: the run is final, the delivery is the host's.
 */
import { isFinalRunStatus, toRunSummary, type Notification as WireNotification, type RunSummary } from '@tether/machine';
import type { RunDoc } from '../store/types.ts';
import { recordEntry, type LogPolicy, type StepResult } from './step.ts';

export type RunNotification = NonNullable<RunDoc['notification']>;

export interface NotifyPolicy {
  /** Tries before giving up. */
  maxAttempts: number;
  /** Delay before the second try; doubled after each, at most `maxBackoffMs`. */
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export const NOTIFY_DEFAULTS: NotifyPolicy = { maxAttempts: 10, initialBackoffMs: 1000, maxBackoffMs: 300_000 };

/** Its delivery id: one per run, the same on every try (a receiver can de-duplicate on it, or on the Idempotency-Key). */
export const notificationId = (runId: string) => `ntf_${runId.replace(/^run_/, '')}`;
export const notificationIdempotencyKey = (runId: string) => `${runId}.finished`;

/** After a step: if it made a run with `notify` final, its delivery becomes pending in the same commit. */
export function withNotificationOnFinal(prev: RunDoc, result: StepResult, at: number): StepResult {
  const doc = result.doc;
  if (!doc.snapshot.context.config.notify || doc.notification) return result;
  if (isFinalRunStatus(toRunSummary(prev.snapshot).status) || !isFinalRunStatus(toRunSummary(doc.snapshot).status)) return result;
  const notification: RunNotification = {
    id: notificationId(doc.id),
    state: 'pending',
    attempts: 0,
    nextAt: at,
    lastStatus: null,
    lastError: null,
    deliveredAt: null,
  };
  return { ...result, doc: { ...doc, notification } };
}

export type DeliveryOutcome = { ok: true; status: number; ms: number } | { ok: false; status: number | null; error: string; ms: number };

/** Records one try's outcome on the run and decides what follows (delivered, given up, or the next try's time). */
export function recordDelivery(doc: RunDoc, outcome: DeliveryOutcome, at: number, policy: LogPolicy, notify: NotifyPolicy): StepResult {
  const n = doc.notification!;
  const attempts = n.attempts + 1;
  const gone = !outcome.ok && outcome.status === 410;
  const exhausted = !outcome.ok && attempts >= notify.maxAttempts;
  const backoff = Math.min(notify.maxBackoffMs, notify.initialBackoffMs * 2 ** (attempts - 1));
  const next: RunNotification = outcome.ok
    ? { ...n, state: 'delivered', attempts, nextAt: null, lastStatus: outcome.status, lastError: null, deliveredAt: at }
    : {
        ...n,
        state: gone || exhausted ? 'failed' : 'pending',
        attempts,
        nextAt: gone || exhausted ? null : at + backoff,
        lastStatus: outcome.status,
        lastError: outcome.error,
      };
  const what = outcome.ok ? `HTTP ${outcome.status}` : outcome.error;
  const then = outcome.ok
    ? 'delivered.'
    : gone
      ? 'the receiver answered 410 Gone: no more tries.'
      : exhausted
        ? `gave up after ${attempts} tries (TETHER_NOTIFY_MAX_ATTEMPTS).`
        : `next try in ${Math.round(backoff / 100) / 10} s.`;
  const result = recordEntry(
    doc,
    {
      type: outcome.ok ? 'notify.delivered' : 'notify.failed',
      at,
      verdict: 'recorded',
      source: 'server',
      ...(outcome.status !== null ? { httpStatus: outcome.status } : {}),
      detail: `Completion webhook try ${attempts}: ${what} in ${outcome.ms} ms; ${then}`,
    },
    policy,
  );
  return { ...result, doc: { ...result.doc, notification: next } };
}

/** An operator asks for the webhook again (the dashboard's "re-deliver"): pending at once, tries counted afresh. */
export function redeliver(doc: RunDoc, at: number, policy: LogPolicy): StepResult {
  const n = doc.notification ?? {
    id: notificationId(doc.id),
    state: 'pending' as const,
    attempts: 0,
    nextAt: at,
    lastStatus: null,
    lastError: null,
    deliveredAt: null,
  };
  const result = recordEntry(
    doc,
    {
      type: 'notify.redeliver',
      at,
      verdict: 'recorded',
      source: 'api',
      detail: `Completion webhook re-delivery requested (was ${doc.notification?.state ?? 'never sent'}).`,
    },
    policy,
  );
  return { ...result, doc: { ...result.doc, notification: { ...n, state: 'pending', attempts: 0, nextAt: at } } };
}

/** The run's summary as the store indexes it and the list shows it: the machine's, plus the webhook's state. */
export function summaryOf(doc: RunDoc): RunSummary {
  const s = toRunSummary(doc.snapshot);
  return doc.notification ? { ...s, notification: doc.notification.state } : s;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function wireNotification(n: RunNotification): WireNotification {
  return { ...n, nextAt: iso(n.nextAt), deliveredAt: iso(n.deliveredAt) };
}
