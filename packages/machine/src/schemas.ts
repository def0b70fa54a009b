/**
 * The wire contract shared by server and dashboard. Each schema's value and type share a name
 * (`RunConfig` is both the TypeBox schema and `Static<typeof RunConfig>`).
 *
 * Times on the wire are ISO-8601 strings, except inside `event` of a log entry, which is the exact
 * machine event (epoch ms) so that a run can be replayed.
 */
import Type, { type Static, type TLiteral, type TUnion } from 'typebox';
import { ATTEMPT_STATES, EVENT_SOURCES, EVENT_VERDICTS, RUN_STATUSES } from './status.ts';

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };
/** A union of string literals from a readonly tuple, so the vocabulary in status.ts stays the single source. */
const literals = <const T extends readonly string[]>(values: T, description: string): TUnion<Literals<T>> =>
  Type.Union(values.map((v) => Type.Literal(v)) as never, { description }) as never;

/** Seconds fields accept fractions; one year is the ceiling so a typo cannot schedule a timer for the year 3000. */
const MAX_SECONDS = 31_536_000;

export const Backoff = Type.Object(
  {
    initialSeconds: Type.Optional(
      Type.Number({ minimum: 0, maximum: MAX_SECONDS, default: 1, description: 'Delay before the first retry, in seconds. @default 1' }),
    ),
    multiplier: Type.Optional(
      Type.Number({ minimum: 1, maximum: 100, default: 2, description: 'Factor applied to the delay after each retry. @default 2' }),
    ),
    maxSeconds: Type.Optional(
      Type.Number({ minimum: 0, maximum: MAX_SECONDS, default: 300, description: 'Ceiling of any single retry delay, in seconds. @default 300' }),
    ),
    jitter: Type.Optional(
      literals(
        ['none', 'full', 'equal'] as const,
        "'none': exact delays; 'full': uniform in [0, d]; 'equal': d/2 + uniform in [0, d/2]. Deterministic per (run, attempt). @default 'none'",
      ),
    ),
  },
  { additionalProperties: false, description: 'Exponential backoff between attempts.' },
);
export type Backoff = Static<typeof Backoff>;

export const Target = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL the trigger request is sent to.' }),
    method: Type.Optional(literals(['POST', 'PUT'] as const, "HTTP method of the trigger request. @default 'POST'")),
    headers: Type.Optional(
      Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 8192 }), {
        description: 'Extra request headers (e.g. Authorization). Never shown back in full by the API.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type Target = Static<typeof Target>;

export const RunConfig = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 200, description: 'Human name of the run, used for filtering.' })),
    target: Target,
    payload: Type.Optional(Type.Unknown({ description: 'Any JSON, passed to the external system in the trigger body.' })),
    timeoutSeconds: Type.Number({
      exclusiveMinimum: 0,
      maximum: MAX_SECONDS,
      description: 'How long each attempt waits for its callback, in seconds (fractions allowed).',
    }),
    retryLimit: Type.Integer({ minimum: 0, maximum: 1000, description: 'Retries after the first attempt (0 = one attempt only).' }),
    backoff: Type.Optional(Backoff),
    heartbeatTimeoutSeconds: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: MAX_SECONDS,
        description: 'If set, an attempt whose last heartbeat (or trigger) is older than this times out (HeartbeatTimedOut), in seconds.',
      }),
    ),
    deadlineSeconds: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: MAX_SECONDS,
        description: 'Overall budget from run start, in seconds: no attempt waits past it and no retry starts after it.',
      }),
    ),
    triggerTimeoutSeconds: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 3600,
        default: 30,
        description: 'How long the trigger HTTP request may take before it counts as failed, in seconds. @default 30',
      }),
    ),
  },
  { additionalProperties: false, description: 'What a run does: where to trigger, how long to wait, how to retry.' },
);
export type RunConfig = Static<typeof RunConfig>;

/** A RunConfig with every default filled in: what the machine keeps in its context. */
export type ResolvedRunConfig = Omit<RunConfig, 'backoff' | 'triggerTimeoutSeconds' | 'target'> & {
  target: Target & { method: 'POST' | 'PUT' };
  backoff: Required<Backoff>;
  triggerTimeoutSeconds: number;
};

export const AttemptState = literals(ATTEMPT_STATES, 'State of one attempt.');
export type AttemptState = Static<typeof AttemptState>;

export const RunStatus = literals(RUN_STATUSES, 'Overall status of a run.');
export type RunStatus = Static<typeof RunStatus>;

const IsoTime = (description: string) => Type.String({ format: 'date-time', description });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const Attempt = Type.Object({
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
});
export type Attempt = Static<typeof Attempt>;

export const Run = Type.Object({
  id: Type.String({ description: 'Run id, `run_…`.' }),
  name: Type.String(),
  status: RunStatus,
  state: Type.String({ description: "The machine's active leaf state: idle, triggering, awaitingCallback, retrying, succeeded, failed, cancelled." }),
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
  failureReason: Nullable(
    literals(['exhausted', 'notRetryable', 'deadline'] as const, 'Why a failed run stopped: every attempt used, a non-retryable failure, or the deadline.'),
  ),
  exhausted: Type.Boolean({ description: 'Failed after using every allowed attempt.' }),
});
export type Run = Static<typeof Run>;

export const RunSummary = Type.Object({
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
});
export type RunSummary = Static<typeof RunSummary>;

/** Longest callback `message`, in characters: the webhook and the operator's complete route answer a longer one 413. */
export const CALLBACK_MESSAGE_MAX_LENGTH = 4096;

export const CallbackBody = Type.Union(
  [
    Type.Object(
      {
        success: Type.Boolean({ description: 'Did the job succeed?' }),
        message: Type.Optional(Type.String({ maxLength: CALLBACK_MESSAGE_MAX_LENGTH, description: 'Status text shown on the attempt.' })),
        output: Type.Optional(Type.Unknown({ description: 'Any JSON result, stored on the attempt.' })),
        retryable: Type.Optional(Type.Boolean({ description: 'With success=false: false stops retrying. @default true' })),
      },
      { additionalProperties: false },
    ),
    Type.Boolean({ description: "The seed's typed-bool callback: bare `true` or `false`." }),
  ],
  { description: 'What the external system POSTs to its callback URL.' },
);
export type CallbackBody = Static<typeof CallbackBody>;

export const HeartbeatBody = Type.Union([
  Type.Object({ progress: Type.Optional(Type.Unknown({ description: 'Any JSON progress, e.g. { percent: 40 }.' })) }, { additionalProperties: false }),
  Type.Null(),
]);
export type HeartbeatBody = Static<typeof HeartbeatBody>;

export const CallbackResult = Type.Object({
  result: literals(
    ['accepted', 'duplicate', 'conflict', 'late', 'unauthorized', 'not_found', 'invalid', 'rate_limited'] as const,
    "Verdict on the callback. 'rate_limited' (429, with Retry-After): too many requests with a bad signature for this run or from this address; a correctly signed one is never refused so.",
  ),
  attemptId: Type.Optional(Type.String()),
  attemptState: Type.Optional(AttemptState),
  endedAt: Type.Optional(Nullable(IsoTime('When the attempt stopped waiting.'))),
  message: Type.Optional(Type.String()),
});
export type CallbackResult = Static<typeof CallbackResult>;

export const EventSource = literals(EVENT_SOURCES, 'Who produced the event.');
export type EventSource = Static<typeof EventSource>;
export const EventVerdict = literals(EVENT_VERDICTS, 'What the engine did with the event.');
export type EventVerdict = Static<typeof EventVerdict>;

export const RunEventEntry = Type.Object({
  seq: Type.Integer({ minimum: 0, description: 'Position in the run log, from 0.' }),
  at: IsoTime('When the event happened (its `at`).'),
  type: Type.String({ description: 'Event type, e.g. callback.received, xstate.after…, server.recovered.' }),
  source: EventSource,
  verdict: EventVerdict,
  attemptId: Type.Optional(Type.String()),
  httpStatus: Type.Optional(Type.Integer({ description: 'HTTP status returned to the caller, for callbacks.' })),
  detail: Type.Optional(Type.String({ description: 'Why, in words (e.g. "attempt 1 timed out at …").' })),
  stateAfter: Type.Optional(Type.String({ description: 'Leaf state after the event.' })),
  event: Type.Optional(Type.Unknown({ description: 'The exact machine event (at in epoch ms) for applied events: replay input.' })),
  repeats: Type.Optional(
    Type.Integer({
      minimum: 2,
      description:
        'Heartbeats only: how many accepted heartbeats in a row, to the same attempt, this entry stands for. The log keeps the last of them (its `event` carries the latest progress), so a job that beats for hours does not grow its run; absent = 1.',
    }),
  ),
});
export type RunEventEntry = Static<typeof RunEventEntry>;

export const StreamMessage = Type.Union([
  Type.Object({
    type: Type.Literal('snapshot'),
    bootId: Type.String({ description: 'Changes on every server start: a client seeing a new one knows the server restarted.' }),
    startedAt: IsoTime('When this server process started.'),
    runs: Type.Array(RunSummary),
  }),
  Type.Object({ type: Type.Literal('run.updated'), run: Run }),
  Type.Object({ type: Type.Literal('run.event'), runId: Type.String(), event: RunEventEntry }),
  Type.Object({ type: Type.Literal('ping'), at: IsoTime('Server time.') }),
]);
export type StreamMessage = Static<typeof StreamMessage>;

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'Stable code, e.g. TETHER_RUN_NOT_FOUND.' }),
    message: Type.String({ description: 'Names the field or the rule.' }),
  }),
});
export type ErrorBody = Static<typeof ErrorBody>;
