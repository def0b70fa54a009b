import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback } from 'react';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { ApiError } from '../../../lib/http.ts';
import { runKeys } from '../../../lib/queryKeys.ts';
import { mergeBySeq, settleEvents, settleRun } from '../../../lib/stream/streamCache.ts';
import { useStreamConnection, useWatch, type StreamConnection } from '../../../lib/stream/useStream.ts';
import { getEvents, getRun } from '../api/runApi.ts';

export interface RunDetailState {
  run: Run | null;
  events: RunEventEntry[];
  error: ApiError | null;
  loading: boolean;
  connection: StreamConnection;
  /** Replace the run with one an action returned (the stream will confirm it). */
  accept: (run: Run) => void;
  reload: () => void;
}

/** Merge log entries by `seq`: the stream and a reload may both deliver the same entry. */
export function mergeEvents(current: readonly RunEventEntry[], incoming: readonly RunEventEntry[]): RunEventEntry[] {
  return mergeBySeq(current, incoming);
}

const NO_EVENTS: RunEventEntry[] = [];
const asApiError = (e: unknown): ApiError | null => (e == null ? null : e instanceof ApiError ? e : new ApiError(0, 'UNKNOWN', String(e)));

/**
 * The run and its event log: two queries, kept live by the shared stream, which this page asks to follow the run.
 * The stream writes `run.updated` and `run.event` into these queries, and once the server confirms the watch
 * (`watch.ok`, after every connect) it has them read again: a commit between the first read and the subscription (a
 * trigger answered within milliseconds of the launch) is shown, not lost.
 */
export function useRunDetail(id: string): RunDetailState {
  const client = useQueryClient();
  // Each read is settled against what the stream said while it was in flight: a read answered from before a commit
  // must not hide that commit's run.updated / run.event (streamCache.ts).
  const runQuery = useQuery({ queryKey: runKeys.detail(id), queryFn: async ({ signal }) => settleRun(client, await getRun(id, signal)) });
  const eventsQuery = useQuery({
    queryKey: runKeys.events(id),
    queryFn: async ({ signal }) => settleEvents(client, id, await getEvents(id, signal)),
  });
  useWatch({ run: id });
  const connection = useStreamConnection();

  const accept = useCallback(
    (next: Run) => client.setQueryData<Run>(runKeys.detail(next.id), (prev) => (prev && prev.updatedAt > next.updatedAt ? prev : next)),
    [client],
  );
  const { refetch: refetchRun } = runQuery;
  const { refetch: refetchEvents } = eventsQuery;
  const reload = useCallback(() => {
    void refetchRun();
    void refetchEvents();
  }, [refetchRun, refetchEvents]);

  return {
    run: runQuery.data ?? null,
    events: eventsQuery.data ?? NO_EVENTS,
    error: asApiError(runQuery.error ?? eventsQuery.error),
    // Pending until the first answer, an error included (the page then says why).
    loading: runQuery.isPending,
    connection,
    accept,
    reload,
  };
}
