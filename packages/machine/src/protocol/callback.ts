/**
 * What the external system sends back to its attempt's signed URLs (`POST /api/callbacks/:runId/:attemptId`, and
 * `…/heartbeat`), and what the webhook answers. docs/callback-protocol.md is the prose version.
 */
import Type, { type Static } from 'typebox';
import { AttemptState } from './run.ts';
import { ErrorField } from './errors.ts';
import { IsoTime, Nullable, literals } from './schema-helpers.ts';

/** Longest callback `message`, in characters: the webhook and the operator's complete route answer a longer one 413. */
export const CALLBACK_MESSAGE_MAX_LENGTH = 4096;

/** The callback as an object: also the machine's `callback.received` payload, once a bare `true`/`false` is expanded. */
export const CallbackPayload = Type.Object(
  {
    success: Type.Boolean({ description: 'Did the job succeed?' }),
    message: Type.Optional(Type.String({ maxLength: CALLBACK_MESSAGE_MAX_LENGTH, description: 'Status text shown on the attempt.' })),
    output: Type.Optional(Type.Unknown({ description: 'Any JSON result, stored on the attempt.' })),
    retryable: Type.Optional(Type.Boolean({ description: 'With success=false: false stops retrying. @default true' })),
  },
  { $id: 'CallbackPayload', additionalProperties: false, description: 'The callback as an object.' },
);
export type CallbackPayload = Static<typeof CallbackPayload>;

export const CallbackBody = Type.Union([CallbackPayload, Type.Boolean({ description: "The seed's typed-bool callback: bare `true` or `false`." })], {
  $id: 'CallbackBody',
  description: 'What the external system POSTs to its callback URL.',
});
export type CallbackBody = Static<typeof CallbackBody>;

export const HeartbeatBody = Type.Union(
  [
    Type.Object(
      { progress: Type.Optional(Type.Unknown({ description: 'Any JSON progress, e.g. { percent: 40 }.' })) },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { $id: 'HeartbeatBody', description: 'What the external system may POST to its heartbeat URL (the body is optional).' },
);
export type HeartbeatBody = Static<typeof HeartbeatBody>;

export const CallbackResult = Type.Object(
  {
    result: literals(
      ['accepted', 'duplicate', 'conflict', 'late', 'unauthorized', 'not_found', 'invalid', 'rate_limited'] as const,
      "Verdict on the callback. 'rate_limited' (429, with Retry-After): too many requests with a bad signature for this run or from this address; a correctly signed one is never refused so.",
    ),
    attemptId: Type.Optional(Type.String()),
    attemptState: Type.Optional(AttemptState),
    endedAt: Type.Optional(Nullable(IsoTime('When the attempt stopped waiting.'))),
    message: Type.Optional(Type.String()),
    fields: Type.Optional(
      Type.Array(ErrorField, { description: "With result 'invalid' for a body of the wrong shape: every field the body gets wrong, at once." }),
    ),
  },
  { $id: 'CallbackResult', description: "The callback and heartbeat webhook's answer, whatever its status." },
);
export type CallbackResult = Static<typeof CallbackResult>;
