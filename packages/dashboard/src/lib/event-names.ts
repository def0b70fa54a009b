/**
 * Plain words for the internal event types of a run's log (`xstate.after.attemptTimeout.run.attempt.awaitingCallback`
 * → "attempt 2 timed out"). The raw type stays the source of truth: show it beside the name (title, `<code>`).
 */

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
