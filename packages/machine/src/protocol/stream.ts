/**
 * Messages of the WebSocket `GET /api/stream[?runId=|?watch=1]`, one JSON text frame each: the server's
 * (`StreamMessage`) and, in watch mode only, the client's (`StreamWatch`).
 */
import Type, { type Static } from 'typebox';
import { RunEventEntry } from './events.ts';
import { Run, RunSummary } from './run.ts';
import { IsoTime } from './schema-helpers.ts';

/** The most run ids one watch may name in `runs` (more closes the socket with 1008). */
export const STREAM_WATCH_MAX_RUNS = 500;
/** The longest run id a watch may name (longer closes the socket with 1008); Tether's own ids are far shorter. */
const WATCH_ID_MAX_LENGTH = 100;
const WatchedId = Type.String({ minLength: 1, maxLength: WATCH_ID_MAX_LENGTH, description: 'Run id.' });

export const StreamMessage = Type.Union(
  [
    Type.Object(
      {
        type: Type.Literal('snapshot'),
        bootId: Type.String({ description: 'Changes on every server start: a client seeing a new one knows the server restarted.' }),
        startedAt: IsoTime('When this server process started.'),
        runs: Type.Array(RunSummary),
      },
      {
        $id: 'StreamSnapshot',
        description:
          "On connect: up to 1000 summaries, newest first (with ?runId=, only that run's, or none if it does not exist; with ?watch=1, none).",
      },
    ),
    Type.Object(
      {
        type: Type.Literal('run.updated'),
        run: Run,
        summary: RunSummary,
      },
      {
        $id: 'StreamRunUpdated',
        description:
          "After every commit of a run: the run as committed and its list line, so a list never derives one from the other. With ?runId= or a watch's `run`, only that run's.",
      },
    ),
    Type.Object(
      { type: Type.Literal('run.event'), runId: Type.String(), event: RunEventEntry },
      { $id: 'StreamRunEvent', description: "With ?runId= or a watch's `run` only: each entry the commit added to that run's event log." },
    ),
    Type.Object(
      { type: Type.Literal('run.summary'), summary: RunSummary },
      {
        $id: 'StreamRunSummary',
        description:
          "Watch mode only: a run's list line after a commit of a run in the watch's `runs`, or after a run's creating commit with `created: true`. Apply in order: the latest is the run's state (the same one may come twice, once for each reason).",
      },
    ),
    Type.Object(
      { type: Type.Literal('run.deleted'), runId: Type.String() },
      {
        $id: 'StreamRunDeleted',
        description: "Watch mode only: a run in the watch's `runs` or `run` was deleted on this server (DELETE /api/runs/:id, retention).",
      },
    ),
    Type.Object(
      {
        type: Type.Literal('watch.ok'),
        runs: Type.Integer({ minimum: 0, description: 'How many distinct ids the watch holds.' }),
        run: Type.Union([Type.String(), Type.Null()], { description: 'The run followed in detail, or null.' }),
        created: Type.Boolean(),
      },
      {
        $id: 'StreamWatchOk',
        description:
          'Watch mode: the answer to each watch, in order, once it is in effect. Every message of a commit made before it has come before it, and every commit after it is sent: re-read what the watch names over HTTP now.',
      },
    ),
    Type.Object({ type: Type.Literal('ping'), at: IsoTime('Server time.') }, { $id: 'StreamPing', description: 'Every 20 s, to everyone.' }),
  ],
  { $id: 'StreamMessage', description: 'One message of the WebSocket stream `GET /api/stream`: one JSON text frame each.' },
);
export type StreamMessage = Static<typeof StreamMessage>;

/**
 * The one message a client sends, in watch mode (`?watch=1`; other clients' messages are ignored). Each replaces the
 * previous; the server answers `watch.ok`. A frame that is not one (not JSON, another shape, over the bounds) closes
 * the socket with 1008 and a reason naming the problem; one over 64 KiB is closed by the WebSocket layer with 1009.
 */
export const StreamWatch = Type.Object(
  {
    type: Type.Literal('watch'),
    runs: Type.Array(WatchedId, {
      maxItems: STREAM_WATCH_MAX_RUNS,
      description: `Runs whose list line the client shows (at most ${STREAM_WATCH_MAX_RUNS}; a repeated id counts once): a \`run.summary\` after each of their commits, and \`run.deleted\` if one is deleted.`,
    }),
    run: Type.Union([WatchedId, Type.Null()], {
      description: 'One run followed in detail: its `run.updated` and `run.event` messages, as with ?runId=, and `run.deleted`. null: none.',
    }),
    created: Type.Boolean({ description: "true: a `run.summary` for every run's creating commit, so a first page can show new runs." }),
  },
  { $id: 'StreamWatch', additionalProperties: false, description: 'Watch mode: what the client wants to hear about from now on.' },
);
export type StreamWatch = Static<typeof StreamWatch>;

/**
 * The query of `GET /api/stream`. Read by the route as it is, not validated (an unknown or repeated parameter is
 * ignored): this schema documents it.
 */
export const StreamQuery = Type.Object({
  runId: Type.Optional(Type.String({ description: 'Watch one run: its summary in the snapshot, then only its run.updated and run.event messages.' })),
  watch: Type.Optional(
    Type.Literal('1', {
      description:
        'Watch mode (runId is then ignored): an empty snapshot, then only what the client names in `StreamWatch` messages it sends (a JSON text frame each, answered by `watch.ok`).',
    }),
  ),
  token: Type.Optional(Type.String({ description: 'The API token: browsers cannot set an Authorization header on a WebSocket.' })),
});
export type StreamQuery = Static<typeof StreamQuery>;
