/**
 * One colour vocabulary for every status the dashboard shows, so a run's badge in the list, its attempts on the
 * timeline and its callbacks in the lane mean the same thing by colour. The CSS defines `.tone-<name>`.
 */
import type { AttemptState, DerivedFilter, EventVerdict, RunStatus } from '@tether/machine/protocol';

export type Tone = 'success' | 'danger' | 'warning' | 'info' | 'muted' | 'late';

export const runStatusTone: Record<RunStatus, Tone> = {
  running: 'info',
  succeeded: 'success',
  failed: 'danger',
  cancelled: 'muted',
};

export const attemptStateTone: Record<AttemptState, Tone> = {
  Triggering: 'info',
  AwaitingCallback: 'info',
  CallbackSuccess: 'success',
  CallbackFailure: 'danger',
  TriggerFailed: 'danger',
  TimedOut: 'warning',
  HeartbeatTimedOut: 'warning',
  Cancelled: 'muted',
};

export const verdictTone: Record<EventVerdict, Tone> = {
  applied: 'success',
  recorded: 'muted',
  duplicate: 'muted',
  conflict: 'warning',
  late: 'late',
  rejected: 'danger',
  unauthorized: 'danger',
  not_found: 'danger',
  invalid: 'danger',
};

/** How a callback verdict reads in the callback lane. */
export const verdictLabel: Record<EventVerdict, string> = {
  applied: 'accepted',
  recorded: 'recorded',
  duplicate: 'duplicate',
  conflict: 'conflict',
  late: 'late',
  rejected: 'rejected',
  unauthorized: 'bad signature',
  not_found: 'not found',
  invalid: 'invalid',
};

export const derivedTone: Record<DerivedFilter, Tone> = {
  retrying: 'warning',
  inBackoff: 'muted',
  overdue: 'late',
  exhausted: 'danger',
};

/** Human words for the machine's leaf states. */
export const stateLabel: Record<string, string> = {
  idle: 'Idle',
  triggering: 'Triggering',
  awaitingCallback: 'Awaiting callback',
  retrying: 'In backoff',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
  timedOut: 'Timed out',
  errored: 'Errored',
  attempt: 'Attempt',
};
