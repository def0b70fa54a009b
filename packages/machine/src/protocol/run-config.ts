/** What a run does: `POST /api/runs` takes a RunConfig; every Run carries it back (target header values redacted). */
import Type, { type Static } from 'typebox';
import { literals } from './schema-helpers.ts';

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
  { $id: 'Backoff', additionalProperties: false, description: 'Exponential backoff between attempts.' },
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
  { $id: 'Target', additionalProperties: false, description: 'Where and how the trigger request of each attempt is sent.' },
);
export type Target = Static<typeof Target>;

export const Notify = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL the completion webhook (`run.finished`) is POSTed to.' }),
    headers: Type.Optional(
      Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 8192 }), {
        description: 'Extra request headers of the webhook (e.g. Authorization). Never shown back in full by the API.',
      }),
    ),
  },
  {
    $id: 'Notify',
    additionalProperties: false,
    description: 'Where to tell that the run is final (succeeded, failed or cancelled): see docs/callback-protocol.md.',
  },
);
export type Notify = Static<typeof Notify>;

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
    notify: Type.Optional(Notify),
    triggerTimeoutSeconds: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 3600,
        default: 30,
        description: 'How long the trigger HTTP request may take before it counts as failed, in seconds. @default 30',
      }),
    ),
  },
  { $id: 'RunConfig', additionalProperties: false, description: 'What a run does: where to trigger, how long to wait, how to retry.' },
);
export type RunConfig = Static<typeof RunConfig>;

/** A RunConfig with every default filled in: what the machine keeps in its context. */
export type ResolvedRunConfig = Omit<RunConfig, 'backoff' | 'triggerTimeoutSeconds' | 'target'> & {
  target: Target & { method: 'POST' | 'PUT' };
  backoff: Required<Backoff>;
  triggerTimeoutSeconds: number;
};
