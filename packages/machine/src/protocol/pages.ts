/** The list queries and answers of the runs API. */
import Type, { type Static } from 'typebox';
import { RunEventEntry } from './events.ts';
import { RunStatus, RunSummary } from './run.ts';
import { Nullable } from './schema-helpers.ts';

/** `GET /api/runs?…`: query parameters arrive as strings, so `limit` is digits (1–500, checked by the route). */
export const RunListQuery = Type.Object(
  {
    status: Type.Optional(RunStatus),
    name: Type.Optional(Type.String({ maxLength: 200, description: 'Case-insensitive substring of the run name.' })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: 'Page size, 1–500. @default 50' })),
    cursor: Type.Optional(Type.String({ maxLength: 100, description: 'nextCursor of the previous page.' })),
    token: Type.Optional(Type.String({ description: 'The API token, for clients that cannot send a header.' })),
  },
  { additionalProperties: false },
);
export type RunListQuery = Static<typeof RunListQuery>;

/** The longest `?wait=` a server takes, seconds. */
export const MAX_WAIT_SECONDS = 60;

/** `GET /api/runs/:id?wait=` and `POST /api/runs?wait=`: answer once the run is final, or after `wait` seconds with the run as it is. */
export const RunWaitQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,2}(\\.[0-9]{1,3})?$',
        description: 'Seconds to wait for the run to be final, 0–60 (fractions allowed). @default 0',
      }),
    ),
    token: Type.Optional(Type.String({ description: 'The API token, for clients that cannot send a header.' })),
  },
  { additionalProperties: false },
);
export type RunWaitQuery = Static<typeof RunWaitQuery>;

/** `GET /api/runs`: newest first. */
export const RunList = Type.Object(
  {
    runs: Type.Array(RunSummary),
    nextCursor: Nullable(Type.String({ description: 'Pass as `cursor` for the next page; null on the last one.' })),
  },
  { $id: 'RunList', description: 'A page of the runs list, newest first.' },
);
export type RunList = Static<typeof RunList>;

/** `GET /api/runs/:id/events`: the whole log, in seq order. */
export const EventList = Type.Object(
  { events: Type.Array(RunEventEntry) },
  { $id: 'EventList', description: "A run's whole event log, in seq order." },
);
export type EventList = Static<typeof EventList>;

/** Headers of `POST /api/runs` and `/rerun`. */
export const CreateHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description:
        'IETF draft "The Idempotency-Key HTTP Header Field": 1–255 visible ASCII characters. A repeat with the same body answers the same run (200, Idempotent-Replayed: true) and creates nothing; another body with the key is 422 TETHER_IDEMPOTENCY_KEY_REUSED.',
    }),
  ),
});
export type CreateHeaders = Static<typeof CreateHeaders>;
