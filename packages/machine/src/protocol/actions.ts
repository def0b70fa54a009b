/** Bodies of the operator's actions on a run: `POST /api/runs/:id/cancel`, `…/attempts/:attemptId/complete`, `…/rerun`. */
import Type, { type Static } from 'typebox';
import { CallbackPayload } from './callback.ts';

export const CancelBody = Type.Union(
  [
    Type.Object(
      { reason: Type.Optional(Type.String({ maxLength: 1000, description: 'Why, recorded on the run.' })) },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { $id: 'CancelBody', description: 'Optional: why the run is cancelled.' },
);
export type CancelBody = Static<typeof CancelBody>;

/** The operator settles the current attempt with what its callback would have said (source `operator`). */
export const CompleteBody = Type.Object(CallbackPayload.properties, {
  $id: 'CompleteBody',
  additionalProperties: false,
  description: 'A callback made by hand: `retryable: false` with `success: false` fails the run now instead of retrying.',
});
export type CompleteBody = Static<typeof CompleteBody>;

export const RerunBody = Type.Union(
  [
    Type.Object({ payload: Type.Optional(Type.Unknown({ description: 'Replaces the payload; omit to keep it.' })) }, { additionalProperties: false }),
    Type.Null(),
  ],
  { $id: 'RerunBody', description: "Optional: a payload that replaces the original run's." },
);
export type RerunBody = Static<typeof RerunBody>;
