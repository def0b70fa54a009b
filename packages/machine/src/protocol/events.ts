/** A run's event log as `GET /api/runs/:id/events` and `run.event` stream messages carry it. */
import Type, { type Static } from 'typebox';
import { IsoTime, literals } from './schema-helpers.ts';
import { EVENT_SOURCES, EVENT_VERDICTS } from './status.ts';

export const EventSource = literals(EVENT_SOURCES, 'Who produced the event.', { $id: 'EventSource' });
export type EventSource = Static<typeof EventSource>;
export const EventVerdict = literals(EVENT_VERDICTS, 'What the engine did with the event.', { $id: 'EventVerdict' });
export type EventVerdict = Static<typeof EventVerdict>;

/**
 * Times are ISO-8601 strings, except inside `event`, which is the exact machine event (epoch ms) so that a run can be
 * replayed.
 */
export const RunEventEntry = Type.Object(
  {
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
  },
  { $id: 'RunEventEntry', description: "One entry of a run's event log." },
);
export type RunEventEntry = Static<typeof RunEventEntry>;
