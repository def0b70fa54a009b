/** Messages of the WebSocket `GET /api/stream[?runId=]`, one JSON text frame each. */
import Type, { type Static } from 'typebox';
import { RunEventEntry } from './events.ts';
import { Run, RunSummary } from './run.ts';
import { IsoTime } from './schema-helpers.ts';

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
        description: "On connect: up to 1000 summaries, newest first (with ?runId=, only that run's, or none if it does not exist).",
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
        description: 'After every commit of a run: the run as committed and its list line, so a list never derives one from the other.',
      },
    ),
    Type.Object(
      { type: Type.Literal('run.event'), runId: Type.String(), event: RunEventEntry },
      { $id: 'StreamRunEvent', description: "With ?runId= only: each entry the commit added to that run's event log." },
    ),
    Type.Object({ type: Type.Literal('ping'), at: IsoTime('Server time.') }, { $id: 'StreamPing', description: 'Every 20 s, to everyone.' }),
  ],
  { $id: 'StreamMessage', description: 'One message of the WebSocket stream `GET /api/stream`: one JSON text frame each.' },
);
export type StreamMessage = Static<typeof StreamMessage>;

/**
 * The query of `GET /api/stream`. Read by the route as it is, not validated (an unknown or repeated parameter is
 * ignored): this schema documents it.
 */
export const StreamQuery = Type.Object({
  runId: Type.Optional(Type.String({ description: 'Watch one run: its summary in the snapshot, then only its run.updated and run.event messages.' })),
  token: Type.Optional(Type.String({ description: 'The API token: browsers cannot set an Authorization header on a WebSocket.' })),
});
export type StreamQuery = Static<typeof StreamQuery>;
