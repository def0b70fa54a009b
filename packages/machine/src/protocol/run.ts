/** A run and its attempts as the API, the stream and the dashboard see them (`GET /api/runs/:id`, `run.updated`). */
import Type, { type Static } from 'typebox';
import { RunConfig } from './run-config.ts';
import { IsoTime, Nullable, literals } from './schema-helpers.ts';
import { ATTEMPT_STATES, RUN_STATUSES } from './status.ts';

export const AttemptState = literals(ATTEMPT_STATES, 'State of one attempt.', { $id: 'AttemptState' });
export type AttemptState = Static<typeof AttemptState>;

export const RunStatus = literals(RUN_STATUSES, 'Overall status of a run.', { $id: 'RunStatus' });
export type RunStatus = Static<typeof RunStatus>;

export const FailureReason = literals(
  ['exhausted', 'notRetryable', 'deadline'] as const,
  'Why a failed run stopped: every attempt used, a non-retryable failure, or the deadline.',
  { $id: 'FailureReason' },
);
export type FailureReason = Static<typeof FailureReason>;

export const Attempt = Type.Object(
  {
    id: Type.String({ description: 'Attempt id, `att_<run>_<n>`; also the Idempotency-Key of its trigger.' }),
    number: Type.Integer({ minimum: 1, description: '1-based attempt number.' }),
    started: IsoTime('When the attempt opened (trigger about to be sent).'),
    stateSet: IsoTime('When `state` last changed.'),
    timeoutDue: IsoTime('When the attempt times out if no callback arrives.'),
    state: AttemptState,
    message: Type.String({ description: 'What happened, in words.' }),
    isSuccess: Type.Boolean({ description: 'True only once a success callback has been accepted.' }),
    callbackUrl: Nullable(Type.String({ description: 'Signed, attempt-bound callback URL.' })),
    heartbeatUrl: Nullable(Type.String({ description: 'Signed, attempt-bound heartbeat URL.' })),
    triggeredAt: Nullable(IsoTime('When the external system acknowledged the trigger with a 2xx.')),
    endedAt: Nullable(IsoTime('When the attempt reached a final attempt state.')),
    heartbeatDue: Nullable(IsoTime('When the attempt times out if no heartbeat arrives (heartbeat runs only).')),
    lastHeartbeatAt: Nullable(IsoTime('Last accepted heartbeat.')),
    progress: Type.Optional(Type.Unknown({ description: 'Progress reported by the last heartbeat.' })),
    output: Type.Optional(Type.Unknown({ description: 'Output sent with the accepted callback.' })),
    timerLatenessMs: Nullable(Type.Number({ description: 'How late the timeout timer fired after its due time, in ms.' })),
    retryable: Type.Boolean({ description: 'False once a failure callback said `retryable: false`.' }),
  },
  { $id: 'Attempt', description: 'One attempt of a run: one trigger and the callback (or timeout) that settles it.' },
);
export type Attempt = Static<typeof Attempt>;

export const NotificationState = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')], {
  $id: 'NotificationState',
  description:
    'The completion webhook (config.notify): pending (to be delivered, or retrying), delivered (a 2xx), failed (gave up: the attempts ran out, or the receiver answered 410).',
});
export type NotificationState = Static<typeof NotificationState>;

/** The completion webhook of a final run with `config.notify`: its delivery so far (each try is in the event log). */
export const Notification = Type.Object(
  {
    id: Type.String({ description: "Delivery id, the body's `id`: the same on every try and re-delivery of this run's webhook." }),
    state: NotificationState,
    attempts: Type.Integer({ minimum: 0, description: 'Delivery tries so far (since the last re-deliver).' }),
    nextAt: Nullable(IsoTime('When the next try is due, while pending.')),
    lastStatus: Nullable(Type.Integer({ description: 'HTTP status of the last try; null for a network error or none yet.' })),
    lastError: Nullable(Type.String({ description: 'What went wrong with the last try, if it failed.' })),
    deliveredAt: Nullable(IsoTime('When a try got a 2xx.')),
  },
  { $id: 'Notification', description: 'The delivery of the completion webhook (`config.notify`) of a final run.' },
);
export type Notification = Static<typeof Notification>;

export const Run = Type.Object(
  {
    id: Type.String({ description: 'Run id, `run_…`.' }),
    name: Type.String(),
    status: RunStatus,
    state: Type.String({
      description: "The machine's active leaf state: idle, triggering, awaitingCallback, retrying, succeeded, failed, cancelled.",
    }),
    config: RunConfig,
    attempts: Type.Array(Attempt),
    attempt: Type.Integer({ minimum: 0, description: 'Number of the current (or last) attempt; 0 before the first.' }),
    maxAttempts: Type.Integer({ minimum: 1, description: '1 + retryLimit.' }),
    overallState: Type.String({ description: 'One sentence in the seed style, e.g. "Completed after 2 attempts. …".' }),
    createdAt: IsoTime('When the run was created.'),
    updatedAt: IsoTime('When the run last committed an event.'),
    finishedAt: Nullable(IsoTime('When the run reached a final status.')),
    nextDueAt: Nullable(IsoTime('The next timer of this run: attempt timeout, heartbeat or retry.')),
    retryDue: Nullable(IsoTime('When the next attempt starts, while in backoff.')),
    deadlineAt: Nullable(IsoTime('The overall deadline, if configured.')),
    rerunOf: Nullable(Type.String({ description: 'The run this one re-runs.' })),
    failureReason: Nullable(FailureReason),
    exhausted: Type.Boolean({ description: 'Failed after using every allowed attempt.' }),
    idempotencyKey: Type.Optional(
      Type.String({ description: 'The Idempotency-Key the run was created with, if any: a repeat of that request answers this run.' }),
    ),
    notification: Type.Optional(Notification),
  },
  { $id: 'Run', description: 'A run with its config (target header values redacted) and every attempt.' },
);
export type Run = Static<typeof Run>;

/** One line of the runs list: what `GET /api/runs`, the stream's snapshot and every `run.updated` carry. */
export const RunSummary = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    status: RunStatus,
    state: Type.String(),
    attempt: Type.Integer({ minimum: 0 }),
    maxAttempts: Type.Integer({ minimum: 1 }),
    nextDueAt: Nullable(IsoTime('Next timer of the run.')),
    lastMessage: Type.String({ description: 'Message of the current or last attempt.' }),
    overallState: Type.String(),
    createdAt: IsoTime('Creation time.'),
    updatedAt: IsoTime('Last commit.'),
    finishedAt: Nullable(IsoTime('Final time.')),
    exhausted: Type.Boolean({ description: 'Failed after using every allowed attempt.' }),
    idempotencyKey: Type.Optional(
      Type.String({ description: 'The Idempotency-Key the run was created with, if any: a repeat of that request answers this run.' }),
    ),
    notification: Type.Optional(NotificationState),
  },
  { $id: 'RunSummary', description: 'One line of the runs list.' },
);
export type RunSummary = Static<typeof RunSummary>;

/** The completion webhook's body (config.notify): POSTed, signed, once the run is final. See docs/callback-protocol.md. */
export const RunFinishedNotification = Type.Object(
  {
    type: Type.Literal('run.finished'),
    id: Type.String({ description: "The delivery's id: the same on every try; de-duplicate on it (or on the Idempotency-Key)." }),
    run: Run,
  },
  { $id: 'RunFinishedNotification', description: 'The body of the completion webhook, `run.finished`.' },
);
export type RunFinishedNotification = Static<typeof RunFinishedNotification>;
