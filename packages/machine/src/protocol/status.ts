/**
 * The status vocabulary as data plus predicates, imported by badges, filters and the server alike. The schemas build
 * their literal unions from these tuples, so a status is added in one place.
 */

export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatusName = (typeof RUN_STATUSES)[number];
export const FINAL_RUN_STATUSES: readonly RunStatusName[] = ['succeeded', 'failed', 'cancelled'];
export const isFinalRunStatus = (s: string): boolean => (FINAL_RUN_STATUSES as readonly string[]).includes(s);

export const ATTEMPT_STATES = [
  'Triggering',
  'AwaitingCallback',
  'CallbackSuccess',
  'CallbackFailure',
  'TriggerFailed',
  'TimedOut',
  'HeartbeatTimedOut',
  'Cancelled',
] as const;
export type AttemptStateName = (typeof ATTEMPT_STATES)[number];
/** Attempt states in which the attempt still waits for something. */
export const OPEN_ATTEMPT_STATES: readonly AttemptStateName[] = ['Triggering', 'AwaitingCallback'];
export const isOpenAttemptState = (s: string): boolean => (OPEN_ATTEMPT_STATES as readonly string[]).includes(s);
export const isFailedAttemptState = (s: string): boolean =>
  s === 'CallbackFailure' || s === 'TriggerFailed' || s === 'TimedOut' || s === 'HeartbeatTimedOut';

/** Leaf states of the machine that a snapshot can rest in. */
export const RESTING_STATES = ['idle', 'triggering', 'awaitingCallback', 'retrying', 'succeeded', 'failed', 'cancelled'] as const;
export type RestingState = (typeof RESTING_STATES)[number];
export const FINAL_STATES = ['succeeded', 'failed', 'cancelled'] as const;

export const EVENT_SOURCES = ['api', 'callback', 'timer', 'trigger', 'operator', 'server'] as const;
export const EVENT_VERDICTS = ['applied', 'rejected', 'duplicate', 'conflict', 'late', 'unauthorized', 'not_found', 'invalid', 'recorded'] as const;

/** Derived list states: the filters people ask for (Temporal ui#884). */
export const DERIVED_FILTERS = ['retrying', 'inBackoff', 'overdue', 'exhausted'] as const;
export type DerivedFilter = (typeof DERIVED_FILTERS)[number];

/** What the derived predicates need from a run (a RunSummary or a Run both fit). */
export interface DerivableRun {
  status: string;
  state: string;
  attempt: number;
  maxAttempts: number;
  nextDueAt: string | null;
  exhausted?: boolean;
}

/** A timer may fire this late before a run counts as Overdue (a lost timer), in ms. */
export const OVERDUE_GRACE_MS = 5_000;

export const isRetrying = (r: DerivableRun): boolean => r.attempt > 1 && !isFinalRunStatus(r.status);
export const isInBackoff = (r: DerivableRun): boolean => r.state === 'retrying' && !isFinalRunStatus(r.status);
export const isOverdue = (r: DerivableRun, nowMs: number): boolean =>
  !isFinalRunStatus(r.status) && r.nextDueAt !== null && nowMs > Date.parse(r.nextDueAt) + OVERDUE_GRACE_MS;
export const isExhausted = (r: DerivableRun): boolean => r.status === 'failed' && (r.exhausted ?? r.attempt >= r.maxAttempts);

export const DERIVED_PREDICATES: Record<DerivedFilter, (r: DerivableRun, nowMs: number) => boolean> = {
  retrying: isRetrying,
  inBackoff: isInBackoff,
  overdue: isOverdue,
  exhausted: isExhausted,
};

export const DERIVED_FILTER_LABELS: Record<DerivedFilter, string> = {
  retrying: 'Retrying',
  inBackoff: 'In backoff',
  overdue: 'Overdue',
  exhausted: 'Exhausted',
};
