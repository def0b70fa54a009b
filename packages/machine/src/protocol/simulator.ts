/**
 * The built-in simulator's knobs: a run aimed at `/simulator/jobs` carries `payload.simulate`, and the simulator plays
 * the external system as it says (the launch form's presets are SimulateSpecs).
 */
import Type, { type Static } from 'typebox';
import { IsoTime, Nullable, literals } from './schema-helpers.ts';

export const SIMULATOR_OUTCOMES = ['success', 'failure', 'never', 'triggerError', 'late', 'duplicate', 'early'] as const;

export const SimulatorOutcome = literals(
  SIMULATOR_OUTCOMES,
  "success | failure: 202, then the callback after delaySeconds; never: 202, no callback; triggerError: 500 to the trigger; late: the callback delaySeconds after the attempt's timeout; duplicate: the success callback twice; early: the callback answered before the trigger's 202.",
  { $id: 'SimulatorOutcome' },
);
export type SimulatorOutcome = Static<typeof SimulatorOutcome>;

export const SimulateSpec = Type.Object(
  {
    outcome: Type.Optional(SimulatorOutcome),
    delaySeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, description: 'Seconds before the callback. @default 1' })),
    perAttempt: Type.Optional(Type.Array(SimulatorOutcome, { maxItems: 100, description: 'Outcome per attempt number; the last repeats.' })),
    retryable: Type.Optional(Type.Boolean({ description: "Sent with 'failure' callbacks: false makes the run fail at once. @default true" })),
  },
  { $id: 'SimulateSpec', additionalProperties: true, description: '`payload.simulate` of a run aimed at the built-in simulator.' },
);
export type SimulateSpec = Static<typeof SimulateSpec>;

/** One trigger the simulator took, as `GET /simulator/jobs` lists it: ids and small fields only, never a body. */
export const SimulatorJob = Type.Object(
  {
    receivedAt: IsoTime('When the trigger arrived (on the server clock).'),
    runId: Type.String(),
    attemptId: Type.String(),
    attempt: Type.Integer({ minimum: 1 }),
    outcome: SimulatorOutcome,
    idempotencyKey: Nullable(Type.String({ maxLength: 200, description: 'The trigger’s Idempotency-Key header, cut to 200 characters.' })),
    callbacks: Type.Array(
      Type.Object({
        at: IsoTime('When the simulator called back.'),
        status: Nullable(Type.Integer({ description: 'What the webhook answered; null: no answer.' })),
        result: Nullable(Type.String({ description: "The answer's `result` word (accepted, late…); null if it had none." })),
      }),
      { description: 'What its own webhook answered, in order.' },
    ),
  },
  { $id: 'SimulatorJob', description: 'One trigger the simulator took.' },
);
export type SimulatorJob = Static<typeof SimulatorJob>;

/** `GET /simulator/jobs`: newest last, the most recent 500. */
export const SimulatorJobList = Type.Object(
  { jobs: Type.Array(SimulatorJob) },
  { $id: 'SimulatorJobList', description: 'What the simulator received, newest last.' },
);
export type SimulatorJobList = Static<typeof SimulatorJobList>;
