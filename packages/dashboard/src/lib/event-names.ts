/**
 * Plain words for the internal event types of a run's log (`xstate.after.attemptTimeout.run.attempt.awaitingCallback`
 * → "attempt 2 timed out"), and for the log's verdicts. The raw type stays the source of truth, but out of the text:
 * in a title, or inside a detail the reader opens — the page never shows `xstate.` as words to read.
 */
import type { Attempt, EventVerdict, RunEventEntry } from '@tether/machine/protocol';

const TIMERS: Record<string, (attempt: string) => string> = {
  attemptTimeout: (a) => `${a} timed out`,
  retryBackoff: () => 'backoff ended',
  heartbeatTimeout: () => 'heartbeat timed out',
};

const FIXED: Record<string, (attempt: string) => string> = {
  'run.created': () => 'run created',
  'run.start': () => 'run started',
  'run.cancel': () => 'run cancelled',
  'run.retryNow': () => 'retry now requested',
  'attempt.forceTimeout': (a) => `${a} timed out by an operator`,
  'trigger.succeeded': () => 'trigger answered',
  'trigger.failed': () => 'trigger failed',
  'trigger.resent': () => 'trigger re-sent',
  'callback.received': () => 'callback',
  'heartbeat.received': () => 'heartbeat',
  'server.recovered': () => 'server restarted',
  'notify.delivered': () => 'webhook delivered',
  'notify.failed': () => 'webhook failed',
  'notify.redeliver': () => 'webhook re-delivery requested',
};

/** The human name of an event type; `attemptNumber` (when known) names the attempt ("attempt 2 timed out"). Unknown types come back as they are. */
export function eventName(type: string, attemptNumber?: number | null): string {
  const attempt = attemptNumber ? `attempt ${attemptNumber}` : 'attempt';
  const fixed = FIXED[type];
  if (fixed) return fixed(attempt);
  if (type.startsWith('xstate.after.')) {
    const timer = type.slice('xstate.after.'.length).split('.')[0] ?? '';
    const known = TIMERS[timer];
    return known ? known(attempt) : `${timer || 'timer'} elapsed`;
  }
  return type;
}

/**
 * The attempt each log entry belongs to, by `seq`. Timer entries carry no attemptId: they belong to the attempt of the
 * last applied entry that named one.
 */
export function attemptNumbersOf(
  attempts: ReadonlyArray<Pick<Attempt, 'id' | 'number'>>,
  events: readonly RunEventEntry[],
): Map<number, number | undefined> {
  const numberOf = new Map(attempts.map((a) => [a.id, a.number]));
  const out = new Map<number, number | undefined>();
  let current: number | undefined;
  for (const e of events) {
    if (e.attemptId && e.verdict === 'applied') current = numberOf.get(e.attemptId);
    out.set(e.seq, e.attemptId ? numberOf.get(e.attemptId) : current);
  }
  return out;
}

/**
 * A verdict as the page shows it: the API's own word (`applied`, `late`, `unauthorized`…), so what the log, the API
 * and the page say is one vocabulary — only `not_found` loses its underscore.
 */
export const verdictWord = (verdict: EventVerdict): string => verdict.replace(/_/g, ' ');

/** What each verdict means, for its tooltip. */
export const VERDICT_MEANING: Record<EventVerdict, string> = {
  applied: 'The machine took the event: it changed the run.',
  rejected: 'The machine does not take this event in the state the run was in.',
  duplicate: 'The same callback again: answered 200, changes nothing.',
  conflict: 'A different callback for an attempt already settled: answered 409.',
  late: 'The attempt no longer waits (or the run is final): answered 410, changes nothing.',
  unauthorized: 'The signature did not verify for this run and attempt: answered 401.',
  not_found: 'The run has no such attempt: answered 404.',
  invalid: 'The callback body was refused (not the protocol, or too large).',
  recorded: 'Noted in the log; not an event for the machine.',
};
