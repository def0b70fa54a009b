/** `GET /healthz`. */
import Type, { type Static } from 'typebox';
import { IsoTime } from './schema-helpers.ts';

export const DamagedRun = Type.Object(
  {
    runId: Type.String(),
    file: Type.String({ description: 'The run file that is missing or does not parse.' }),
    reason: Type.String(),
    since: IsoTime('When this server found it.'),
  },
  { $id: 'DamagedRun', description: 'A quarantined run.' },
);
export type DamagedRun = Static<typeof DamagedRun>;

export const WriteBackFailure = Type.Object(
  {
    at: IsoTime('When it failed.'),
    message: Type.String(),
    files: Type.Array(Type.String(), {
      description: 'The files it could not write (at most 10), or the journal segment it could not start or remove.',
    }),
    fileCount: Type.Integer({ description: 'How many files failed in all.' }),
  },
  { $id: 'WriteBackFailure', description: 'The last write-back that failed.' },
);
export type WriteBackFailure = Static<typeof WriteBackFailure>;

export const WriteBackStatus = Type.Object(
  {
    ok: Type.Boolean({ description: 'False while write-backs fail.' }),
    consecutiveFailures: Type.Integer({ description: 'Write-backs that failed since the last one that succeeded.' }),
    lastError: Type.Optional(WriteBackFailure),
    lastSuccessAt: Type.Optional(IsoTime('When a write-back last succeeded.')),
  },
  {
    $id: 'WriteBackStatus',
    description:
      "The store's background write-backs of journaled commits into run files. One that fails loses nothing (the journal keeps every commit) but the journal grows until one succeeds; each is retried at the next write-back.",
  },
);
export type WriteBackStatus = Static<typeof WriteBackStatus>;

export const Health = Type.Object(
  {
    ok: Type.Boolean({ description: 'False while any run is damaged or write-backs fail.' }),
    bootId: Type.String({ description: 'Changes at every start.' }),
    startedAt: IsoTime('When this server process started.'),
    runs: Type.Integer({ description: 'Runs stored.' }),
    activeRuns: Type.Integer({ description: 'Runs not final.' }),
    timers: Type.Integer({ description: 'Timers armed.' }),
    damaged: Type.Array(DamagedRun, {
      description:
        'Quarantined runs: every request about one answers TETHER_RUN_DAMAGED until its file is repaired or restored and Tether restarted. `ok` is false while any is listed.',
    }),
    node: Type.String({ description: 'This node (TETHER_NODE_ID; default host:pid).' }),
    store: Type.Object(
      {
        kind: Type.Union([Type.Literal('file'), Type.Literal('postgres')], { description: 'TETHER_STORE.' }),
        writeBack: Type.Optional(WriteBackStatus),
        reachable: Type.Optional(Type.Boolean({ description: 'postgres: whether the database answered just now. `ok` is false while not.' })),
        listening: Type.Optional(
          Type.Boolean({
            description: "postgres: whether this node's LISTEN connection is up (if not, other nodes' changes arrive by the catch-up poll).",
          }),
        ),
      },
      { description: 'The store. `ok` is false while write-backs fail or the database is unreachable.' },
    ),
  },
  { $id: 'Health', description: 'Liveness, counts, damaged runs and store write-backs.' },
);
export const Readiness = Type.Object(
  {
    ready: Type.Boolean(),
    node: Type.String(),
    reason: Type.Optional(Type.String({ description: 'Why not ready: recovery not finished, the store not writable, the database unreachable.' })),
  },
  { $id: 'Readiness', description: 'Whether this node can serve.' },
);
export type Readiness = Static<typeof Readiness>;
export type Health = Static<typeof Health>;
