/** What Tether sends to a run's `target.url` for each attempt (with `Idempotency-Key: <attemptId>`). */
import Type, { type Static } from 'typebox';

/**
 * Not closed (`additionalProperties` allowed): a receiver should ignore fields it does not know, so that Tether can add
 * one without breaking external systems.
 */
export const TriggerBody = Type.Object(
  {
    runId: Type.String({ description: 'The run, `run_…`.' }),
    attemptId: Type.String({ description: 'The attempt, `att_<run>_<n>`; also the Idempotency-Key header. De-duplicate on it.' }),
    attempt: Type.Integer({ minimum: 1, description: '1-based attempt number.' }),
    callbackUrl: Type.String({ description: 'Signed, attempt-bound URL to POST the outcome to (keep its `sig`).' }),
    heartbeatUrl: Type.String({ description: 'Signed, attempt-bound URL to POST heartbeats to; it cannot settle the attempt.' }),
    payload: Type.Optional(Type.Unknown({ description: "The run's payload, as given at creation; absent if it had none." })),
  },
  { $id: 'TriggerBody', description: 'The trigger request body of one attempt.' },
);
export type TriggerBody = Static<typeof TriggerBody>;
