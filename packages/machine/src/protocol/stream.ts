/** Messages of the WebSocket `GET /api/stream[?runId=]`, one JSON text frame each. */
import Type, { type Static } from 'typebox';
import { RunEventEntry } from './events.ts';
import { Run, RunSummary } from './run.ts';
import { IsoTime } from './schema-helpers.ts';

export const StreamMessage = Type.Union([
  Type.Object({
    type: Type.Literal('snapshot'),
    bootId: Type.String({ description: 'Changes on every server start: a client seeing a new one knows the server restarted.' }),
    startedAt: IsoTime('When this server process started.'),
    runs: Type.Array(RunSummary),
  }),
  Type.Object(
    {
      type: Type.Literal('run.updated'),
      run: Run,
      summary: RunSummary,
    },
    { description: 'After every commit of a run: the run as committed and its list line, so a list never derives one from the other.' },
  ),
  Type.Object({ type: Type.Literal('run.event'), runId: Type.String(), event: RunEventEntry }),
  Type.Object({ type: Type.Literal('ping'), at: IsoTime('Server time.') }),
]);
export type StreamMessage = Static<typeof StreamMessage>;
