/**
 * The run statechart. A pure function of its input and events: it never reads the clock. Every event
 * carries `at` (epoch ms); delays are computed from absolute due times held in context, so a host that
 * persists the snapshot can re-arm the same timers at the same instants (XState does not: statelyai/xstate#5331).
 *
 * Drive it with the pure API: `initialTransition(runMachine, input)` then `transition(runMachine, snapshot, event)`.
 * The returned actions are the host's to execute: `triggerAttempt` (send the trigger), delayed `xstate.raise`
 * (arm a timer at `at + delay`), `xstate.cancel` (disarm it).
 */
import { assign, setup, type ActorRefFrom, type EventFromLogic, type SnapshotFrom } from 'xstate';
import type { AttemptStateName } from './protocol/status.ts';
import type { ResolvedRunConfig } from './protocol/run-config.ts';
import type { CallbackPayload } from './protocol/callback.ts';
import type { FailureReason } from './protocol/run.ts';
import { resolveRunConfig } from './config.ts';
import { nextAttemptAt, secondsToMs } from './retry.ts';

/** One attempt as the machine keeps it (times in epoch ms). The wire `Attempt` is derived from it. */
export interface AttemptRecord {
  id: string;
  number: number;
  started: number;
  stateSet: number;
  timeoutDue: number;
  /** True when `timeoutDue` was pulled in by the run's deadline. */
  deadlineCapped: boolean;
  state: AttemptStateName;
  message: string;
  isSuccess: boolean;
  triggeredAt: number | null;
  endedAt: number | null;
  heartbeatDue: number | null;
  lastHeartbeatAt: number | null;
  progress?: unknown;
  output?: unknown;
  /** How late the timeout timer fired relative to its due time, ms. */
  timerLatenessMs: number | null;
  /** False when a failure callback said `retryable: false`. */
  retryable: boolean;
  /** The accepted callback, kept to tell a duplicate from a conflict. */
  callback: CallbackPayload | null;
}

// Wire shapes the context keeps as they arrived; re-exported here for modules that import them from the machine.
export type { CallbackPayload, FailureReason };

export interface RunContext {
  runId: string;
  config: ResolvedRunConfig;
  createdAt: number;
  /** `at` of the last event that changed the run. */
  updatedAt: number;
  deadlineAt: number | null;
  attempts: AttemptRecord[];
  /** When the next attempt starts, while in backoff. */
  retryDue: number | null;
  finishedAt: number | null;
  failureReason: FailureReason | null;
  cancelReason: string | null;
  overallState: string;
  /** The caller's Idempotency-Key the run was created with (POST /api/runs): absent when none was given. */
  idempotencyKey?: string;
}

export interface RunInput {
  runId: string;
  config: ResolvedRunConfig | Parameters<typeof resolveRunConfig>[0];
  /** Creation time, epoch ms. */
  at: number;
  idempotencyKey?: string;
}

type At = { at: number };
export type RunStartEvent = { type: 'run.start' } & At;
export type TriggerSucceededEvent = { type: 'trigger.succeeded'; attemptId: string } & At;
export type TriggerFailedEvent = { type: 'trigger.failed'; attemptId: string; message: string } & At;
export type CallbackReceivedEvent = { type: 'callback.received'; attemptId: string } & CallbackPayload & At;
export type HeartbeatReceivedEvent = { type: 'heartbeat.received'; attemptId: string; progress?: unknown } & At;
export type RunCancelEvent = { type: 'run.cancel'; reason?: string } & At;
export type RunRetryNowEvent = { type: 'run.retryNow' } & At;
export type AttemptForceTimeoutEvent = { type: 'attempt.forceTimeout'; attemptId: string } & At;

export type RunEvent =
  | RunStartEvent
  | TriggerSucceededEvent
  | TriggerFailedEvent
  | CallbackReceivedEvent
  | HeartbeatReceivedEvent
  | RunCancelEvent
  | RunRetryNowEvent
  | AttemptForceTimeoutEvent;

/** A delayed event the host fires when its timer is due, stamped with the time it fired. */
export type TimerEvent = { type: `xstate.after.${string}` } & At;

/** The effect the host executes when an attempt opens. */
export interface TriggerEffectParams {
  attemptId: string;
  number: number;
}

export const attemptIdFor = (runId: string, n: number): string => `att_${runId.replace(/^run_/, '')}_${n}`;

export const currentAttempt = (c: Pick<RunContext, 'attempts'>): AttemptRecord | undefined => c.attempts[c.attempts.length - 1];

/** The instant the current attempt's one timer fires: the callback timeout, or an earlier heartbeat deadline. */
export function attemptDueAt(c: Pick<RunContext, 'attempts'>): number {
  const a = currentAttempt(c);
  if (!a) return Number.POSITIVE_INFINITY;
  return a.heartbeatDue !== null ? Math.min(a.timeoutDue, a.heartbeatDue) : a.timeoutDue;
}

/** Event time; eventless and init steps fall back to the last time the run saw. */
const timeOf = (c: RunContext, e: unknown): number => {
  const at = (e as { at?: unknown } | undefined)?.at;
  return typeof at === 'number' && Number.isFinite(at) ? at : c.updatedAt;
};

export const formatSeconds = (s: number): string => `${Number.isInteger(s) ? s : Number(s.toFixed(3))} s`;
const iso = (ms: number): string => new Date(ms).toISOString();
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Replace the current attempt with `patch` applied; the state change stamps `stateSet`. */
function patchCurrent(c: RunContext, at: number, patch: Partial<AttemptRecord>): AttemptRecord[] {
  const attempts = c.attempts.slice();
  const last = attempts[attempts.length - 1];
  if (!last) return attempts;
  const next: AttemptRecord = { ...last, ...patch };
  if (patch.state && patch.state !== last.state) next.stateSet = at;
  attempts[attempts.length - 1] = next;
  return attempts;
}

const maxAttempts = (c: RunContext) => 1 + c.config.retryLimit;

/** Why the run cannot retry after the current attempt, or null if it can. */
function retryBlocker(c: RunContext, at: number): FailureReason | null {
  const a = currentAttempt(c);
  if (!a) return 'exhausted';
  if (!a.retryable) return 'notRetryable';
  if (c.attempts.length >= maxAttempts(c)) return 'exhausted';
  const nextStart = nextAttemptAt(c.config.backoff, a, at, c.runId);
  if (c.deadlineAt !== null && nextStart >= c.deadlineAt) return 'deadline';
  return null;
}

const failureSuffix: Record<FailureReason, string> = {
  exhausted: '',
  notRetryable: ' (not retryable)',
  deadline: ' (run deadline reached)',
};

function waitingSentence(c: RunContext, a: AttemptRecord): string {
  const of = `Attempt ${a.number} of ${maxAttempts(c)}`;
  return a.state === 'Triggering' ? `${of}: triggering the external system.` : `${of}: awaiting callback until ${iso(attemptDueAt(c))}.`;
}

export const runMachine = setup({
  types: {
    context: {} as RunContext,
    input: {} as RunInput,
    events: {} as RunEvent,
  },
  actions: {
    /** Effect: the host sends the trigger request for this attempt (at-least-once, Idempotency-Key = attemptId). */
    triggerAttempt: (_, _params: TriggerEffectParams) => {
      /* executed by the host from its outbox */
    },
    openAttempt: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const number = context.attempts.length + 1;
      const naturalDue = at + secondsToMs(context.config.timeoutSeconds);
      const capped = context.deadlineAt !== null && context.deadlineAt < naturalDue;
      const attempt: AttemptRecord = {
        id: attemptIdFor(context.runId, number),
        number,
        started: at,
        stateSet: at,
        timeoutDue: capped ? (context.deadlineAt as number) : naturalDue,
        deadlineCapped: capped,
        state: 'Triggering',
        message: `Triggering ${context.config.target.method} ${context.config.target.url}`,
        isSuccess: false,
        triggeredAt: null,
        endedAt: null,
        heartbeatDue: null,
        lastHeartbeatAt: null,
        timerLatenessMs: null,
        retryable: true,
        callback: null,
      };
      const c = { ...context, attempts: [...context.attempts, attempt], retryDue: null, updatedAt: at };
      return { ...c, overallState: waitingSentence(c, attempt) };
    }),
    markTriggered: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const hb = context.config.heartbeatTimeoutSeconds;
      const attempts = patchCurrent(context, at, {
        state: 'AwaitingCallback',
        triggeredAt: at,
        message: 'Triggered; waiting for the callback.',
        heartbeatDue: hb !== undefined ? at + secondsToMs(hb) : null,
      });
      const c = { ...context, attempts, updatedAt: at };
      return { ...c, overallState: waitingSentence(c, attempts[attempts.length - 1]!) };
    }),
    markTriggerFailed: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const message = (event as TriggerFailedEvent).message || 'Trigger failed';
      return {
        attempts: patchCurrent(context, at, { state: 'TriggerFailed', message: `Trigger failed: ${message}`, endedAt: at }),
        updatedAt: at,
      };
    }),
    recordCallback: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const e = event as CallbackReceivedEvent;
      const callback: CallbackPayload = { success: e.success };
      if (e.message !== undefined) callback.message = e.message;
      if (e.output !== undefined) callback.output = e.output;
      if (e.retryable !== undefined) callback.retryable = e.retryable;
      const message = e.message ?? (e.success ? 'External system called back with success.' : 'External system called back with failure.');
      const patch: Partial<AttemptRecord> = {
        state: e.success ? 'CallbackSuccess' : 'CallbackFailure',
        isSuccess: e.success,
        message,
        endedAt: at,
        callback,
        retryable: e.success || e.retryable !== false,
      };
      if (e.output !== undefined) patch.output = e.output;
      return { attempts: patchCurrent(context, at, patch), updatedAt: at };
    }),
    recordHeartbeat: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const e = event as HeartbeatReceivedEvent;
      const a = currentAttempt(context);
      const hb = context.config.heartbeatTimeoutSeconds;
      const patch: Partial<AttemptRecord> = { lastHeartbeatAt: at };
      if (e.progress !== undefined) patch.progress = e.progress;
      // Heartbeats only move the deadline once the trigger is acknowledged; before that the callback timeout rules.
      if (a?.state === 'AwaitingCallback' && hb !== undefined) patch.heartbeatDue = at + secondsToMs(hb);
      const attempts = patchCurrent(context, at, patch);
      const c = { ...context, attempts, updatedAt: at };
      return { ...c, overallState: waitingSentence(c, attempts[attempts.length - 1]!) };
    }),
    markTimedOut: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const a = currentAttempt(context)!;
      const heartbeatFirst = a.heartbeatDue !== null && a.heartbeatDue < a.timeoutDue;
      const due = attemptDueAt(context);
      const patch: Partial<AttemptRecord> = heartbeatFirst
        ? {
            state: 'HeartbeatTimedOut',
            message: `No heartbeat within ${formatSeconds(context.config.heartbeatTimeoutSeconds ?? 0)}${
              a.lastHeartbeatAt !== null ? ` (last at ${iso(a.lastHeartbeatAt)})` : ''
            }.`,
          }
        : {
            state: 'TimedOut',
            message: a.deadlineCapped
              ? `Run deadline reached after ${formatSeconds((a.timeoutDue - a.started) / 1000)} without a callback.`
              : `Callback not received within ${formatSeconds(context.config.timeoutSeconds)}.`,
          };
      return {
        attempts: patchCurrent(context, at, { ...patch, endedAt: at, timerLatenessMs: Math.max(0, at - due) }),
        updatedAt: at,
      };
    }),
    markForcedTimeout: assign(({ context, event }) => {
      const at = timeOf(context, event);
      return {
        attempts: patchCurrent(context, at, { state: 'TimedOut', message: 'Timed out by an operator.', endedAt: at }),
        updatedAt: at,
      };
    }),
    scheduleRetry: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const a = currentAttempt(context)!;
      // The backoff, held back to MIN_ATTEMPT_PERIOD_MS after the attempt started (retry.ts: bounds a run's write rate).
      const retryDue = nextAttemptAt(context.config.backoff, a, at, context.runId);
      return {
        retryDue,
        updatedAt: at,
        overallState: `Attempt ${a.number} of ${maxAttempts(context)} ended ${a.state}: ${a.message} Attempt ${
          a.number + 1
        } starts at ${iso(retryDue)}.`,
      };
    }),
    finishSucceeded: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const a = currentAttempt(context)!;
      return {
        finishedAt: at,
        updatedAt: at,
        retryDue: null,
        overallState: `Completed after ${plural(a.number, 'attempt')}. Final state ${a.state}: ${a.message}`,
      };
    }),
    finishFailed: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const a = currentAttempt(context)!;
      const reason = retryBlocker(context, at) ?? 'exhausted';
      return {
        finishedAt: at,
        updatedAt: at,
        retryDue: null,
        failureReason: reason,
        overallState: `Failed after ${plural(a.number, 'attempt')}. Final state ${a.state}: ${a.message}${failureSuffix[reason]}`,
      };
    }),
    markCancelled: assign(({ context, event }) => {
      const at = timeOf(context, event);
      const reason = (event as RunCancelEvent).reason || 'no reason given';
      const a = currentAttempt(context);
      const open = a && (a.state === 'Triggering' || a.state === 'AwaitingCallback');
      const attempts = open ? patchCurrent(context, at, { state: 'Cancelled', message: `Cancelled: ${reason}`, endedAt: at }) : context.attempts;
      const where = !a ? 'before the first attempt' : open ? `during attempt ${a.number}` : `during backoff after attempt ${a.number}`;
      return {
        attempts,
        finishedAt: at,
        updatedAt: at,
        retryDue: null,
        cancelReason: reason,
        overallState: `Cancelled ${where}: ${reason}`,
      };
    }),
  },
  guards: {
    /** Not yet finished: every final state stamps `finishedAt`. */
    isRunOpen: ({ context }) => context.finishedAt === null,
    /** Events name their attempt: one for an older attempt is stale and changes nothing. */
    isCurrentAttempt: ({ context, event }) =>
      'attemptId' in event && typeof event.attemptId === 'string' && event.attemptId === currentAttempt(context)?.id,
    /**
     * A callback counts only if it arrives before the attempt's deadline. Its `at` decides, not whether the host's timer
     * has fired yet: a callback at or after `timeoutDue` is late even when the timer is a few ms behind.
     */
    isCurrentSuccess: ({ context, event }) =>
      event.type === 'callback.received' &&
      event.attemptId === currentAttempt(context)?.id &&
      event.success === true &&
      timeOf(context, event) < attemptDueAt(context),
    isCurrentFailure: ({ context, event }) =>
      event.type === 'callback.received' &&
      event.attemptId === currentAttempt(context)?.id &&
      event.success === false &&
      timeOf(context, event) < attemptDueAt(context),
    /** Heartbeats too: one at or after the heartbeat (or callback) deadline cannot revive the attempt. */
    isCurrentAttemptInTime: ({ context, event }) =>
      'attemptId' in event && event.attemptId === currentAttempt(context)?.id && timeOf(context, event) < attemptDueAt(context),
    /** A timer event is honoured only once its instant has come: a stale or early fire changes nothing. */
    attemptTimerDue: ({ context, event }) => timeOf(context, event) >= attemptDueAt(context),
    retryTimerDue: ({ context, event }) => context.retryDue !== null && timeOf(context, event) >= context.retryDue,
    /**
     * No retry starts at or after the deadline, even when the retry timer (or an operator's retryNow) arrives late,
     * e.g. after the host was down: the run fails instead of opening an attempt that is already out of time.
     */
    isPastDeadline: ({ context, event }) => context.deadlineAt !== null && timeOf(context, event) >= context.deadlineAt,
    retryTimerDuePastDeadline: ({ context, event }) =>
      context.retryDue !== null &&
      timeOf(context, event) >= context.retryDue &&
      context.deadlineAt !== null &&
      timeOf(context, event) >= context.deadlineAt,
    canRetry: ({ context, event }) => retryBlocker(context, timeOf(context, event)) === null,
  },
  delays: {
    attemptTimeout: ({ context, event }) => Math.max(0, attemptDueAt(context) - timeOf(context, event)),
    retryBackoff: ({ context, event }) => Math.max(0, (context.retryDue ?? 0) - timeOf(context, event)),
  },
}).createMachine({
  id: 'run',
  context: ({ input }) => {
    const config = resolveRunConfig(input.config as Parameters<typeof resolveRunConfig>[0]);
    return {
      runId: input.runId,
      config,
      createdAt: input.at,
      updatedAt: input.at,
      deadlineAt: config.deadlineSeconds !== undefined ? input.at + secondsToMs(config.deadlineSeconds) : null,
      attempts: [],
      retryDue: null,
      finishedAt: null,
      failureReason: null,
      cancelReason: null,
      overallState: 'Created; not started.',
      ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
    };
  },
  initial: 'idle',
  on: {
    // Guarded so that `snapshot.can(run.cancel)` is false once the run is final (XState still offers root
    // transitions from a done snapshot to `can()`, although `transition()` ignores them).
    'run.cancel': { guard: 'isRunOpen', target: '.cancelled', actions: 'markCancelled' },
  },
  states: {
    idle: {
      on: { 'run.start': { target: 'attempt' } },
    },
    attempt: {
      entry: [
        'openAttempt',
        {
          type: 'triggerAttempt',
          params: ({ context }) => {
            const a = currentAttempt(context)!;
            return { attemptId: a.id, number: a.number };
          },
        },
      ],
      initial: 'triggering',
      on: {
        'callback.received': [
          { guard: 'isCurrentSuccess', target: 'succeeded', actions: 'recordCallback' },
          { guard: 'isCurrentFailure', target: 'errored', actions: 'recordCallback' },
        ],
        'attempt.forceTimeout': { guard: 'isCurrentAttempt', target: 'timedOut', actions: 'markForcedTimeout' },
      },
      states: {
        triggering: {
          after: {
            attemptTimeout: { guard: 'attemptTimerDue', target: '#run.timedOut', actions: 'markTimedOut' },
          },
          on: {
            'trigger.succeeded': { guard: 'isCurrentAttempt', target: 'awaitingCallback', actions: 'markTriggered' },
            'trigger.failed': { guard: 'isCurrentAttempt', target: '#run.errored', actions: 'markTriggerFailed' },
            'heartbeat.received': { guard: 'isCurrentAttemptInTime', actions: 'recordHeartbeat' },
          },
        },
        awaitingCallback: {
          after: {
            attemptTimeout: { guard: 'attemptTimerDue', target: '#run.timedOut', actions: 'markTimedOut' },
          },
          on: {
            // Re-entering re-arms the one attempt timer at the moved heartbeat deadline.
            'heartbeat.received': { guard: 'isCurrentAttemptInTime', target: 'awaitingCallback', reenter: true, actions: 'recordHeartbeat' },
          },
        },
      },
    },
    timedOut: {
      always: [
        { guard: 'canRetry', target: 'retrying', actions: 'scheduleRetry' },
        { target: 'failed', actions: 'finishFailed' },
      ],
    },
    errored: {
      always: [
        { guard: 'canRetry', target: 'retrying', actions: 'scheduleRetry' },
        { target: 'failed', actions: 'finishFailed' },
      ],
    },
    retrying: {
      after: {
        retryBackoff: [
          { guard: 'retryTimerDuePastDeadline', target: 'failed', actions: 'finishFailed' },
          { guard: 'retryTimerDue', target: 'attempt' },
        ],
      },
      on: {
        'run.retryNow': [{ guard: 'isPastDeadline', target: 'failed', actions: 'finishFailed' }, { target: 'attempt' }],
      },
    },
    succeeded: { type: 'final', entry: 'finishSucceeded' },
    failed: { type: 'final' },
    cancelled: { type: 'final' },
  },
});

export type RunMachine = typeof runMachine;
export type RunSnapshot = SnapshotFrom<typeof runMachine>;
export type RunMachineEvent = EventFromLogic<typeof runMachine>;
export type RunActorRef = ActorRefFrom<typeof runMachine>;
