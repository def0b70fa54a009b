/** The list queries and answers of the runs API. */
import Type, { type Static } from 'typebox';
import { RunEventEntry } from './events.ts';
import { RunStatus, RunSummary } from './run.ts';
import { DERIVED_FILTERS } from './status.ts';
import { IsoTime, Nullable, literals } from './schema-helpers.ts';

/**
 * Orders of the runs list: a field, descending with a leading `-`. `duration` is finishedAt − createdAt of final runs;
 * runs without one (not final) come after those with one in both directions. `status` follows RUN_STATUSES (open
 * first, then by outcome). Ties are broken by id in the same direction, so every order is total.
 */
export const RUN_LIST_SORTS = ['-createdAt', 'createdAt', '-updatedAt', 'updatedAt', 'status', '-status', 'duration', '-duration'] as const;
/** Newest first: the order the list always had, whose cursor is the last id of the page. */
export const DEFAULT_RUN_LIST_SORT = '-createdAt';
export const RunListSort = literals(RUN_LIST_SORTS, 'Order of the list; `-` descending. @default -createdAt');
export type RunListSort = Static<typeof RunListSort>;

/**
 * Which runs: the list's filters, also the `filter` of the bulk actions (one meaning in both places). Times are
 * RFC 3339 date-times; `createdAfter` is inclusive, `createdBefore` exclusive, and after must be earlier than before.
 */
export const RunFilter = Type.Object(
  {
    status: Type.Optional(RunStatus),
    name: Type.Optional(Type.String({ maxLength: 200, description: 'Case-insensitive substring of the run name.' })),
    createdAfter: Type.Optional(IsoTime('Runs created at or after this instant (inclusive).')),
    createdBefore: Type.Optional(IsoTime('Runs created before this instant (exclusive).')),
    derived: Type.Optional(
      literals(
        DERIVED_FILTERS,
        'A derived state, decided on the server clock by the shared predicates (DERIVED_PREDICATES): retrying (attempt 2 or later, not final), inBackoff (waiting out a backoff), overdue (a timer more than 5 s late), exhausted (failed after every attempt).',
      ),
    ),
  },
  { $id: 'RunFilter', additionalProperties: false, description: 'Runs matching every field given (none: every run).' },
);
export type RunFilter = Static<typeof RunFilter>;

/** `GET /api/runs?…`: query parameters arrive as strings, so `limit` is digits (1–500, checked by the route). */
export const RunListQuery = Type.Object(
  {
    ...RunFilter.properties,
    sort: Type.Optional(RunListSort),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: 'Page size, 1–500. @default 50' })),
    cursor: Type.Optional(Type.String({ maxLength: 100, description: 'nextCursor of the previous page, with the same sort.' })),
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

/** `GET /api/runs`: a page in the order asked (newest first by default). */
export const RunList = Type.Object(
  {
    runs: Type.Array(RunSummary),
    nextCursor: Nullable(Type.String({ description: 'Pass as `cursor` (with the same sort) for the next page; null on the last one.' })),
    total: Type.Integer({ minimum: 0, description: 'How many runs match the filters (status, name, created range), on every page.' }),
  },
  { $id: 'RunList', description: 'A page of the runs list, in the order asked (newest first by default).' },
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
