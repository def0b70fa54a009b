/** Route-level schemas built from the shared wire contract. */
import Type from 'typebox';
import { CALLBACK_MESSAGE_MAX_LENGTH, ErrorBody, RunEventEntry, RunSummary } from '@tether/machine';

export const RunIdParams = Type.Object({
  id: Type.String({ pattern: '^run_[A-Za-z0-9_-]{1,64}$', description: 'Run id.' }),
});
export const AttemptParams = Type.Object({
  id: Type.String({ pattern: '^run_[A-Za-z0-9_-]{1,64}$' }),
  attemptId: Type.String({ pattern: '^att_[A-Za-z0-9_-]{1,80}$' }),
});
export const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')])),
    name: Type.Optional(Type.String({ maxLength: 200, description: 'Case-insensitive substring of the run name.' })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: 'Page size, 1–500. @default 50' })),
    cursor: Type.Optional(Type.String({ maxLength: 100, description: 'nextCursor of the previous page.' })),
    token: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export const RunList = Type.Object({ runs: Type.Array(RunSummary), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export const EventList = Type.Object({ events: Type.Array(RunEventEntry) });
export const CancelBody = Type.Union([
  Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000, description: 'Why, recorded on the run.' })) }, { additionalProperties: false }),
  Type.Null(),
]);
export const CompleteBody = Type.Object(
  {
    success: Type.Boolean(),
    message: Type.Optional(Type.String({ maxLength: CALLBACK_MESSAGE_MAX_LENGTH })),
    output: Type.Optional(Type.Unknown()),
    retryable: Type.Optional(Type.Boolean({ description: 'With success=false: false fails the run now instead of retrying. @default true' })),
  },
  { additionalProperties: false },
);
export const RerunBody = Type.Union([
  Type.Object({ payload: Type.Optional(Type.Unknown({ description: 'Replaces the payload; omit to keep it.' })) }, { additionalProperties: false }),
  Type.Null(),
]);
export { ErrorBody };
