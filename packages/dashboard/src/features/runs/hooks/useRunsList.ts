import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { RunList, RunSummary } from '@tether/machine/protocol';
import { ApiError } from '../../../lib/http.ts';
import { runKeys } from '../../../lib/queryKeys.ts';
import { useStreamConnection, useStreamMessages, useWatch, type StreamConnection } from '../../../lib/stream/useStream.ts';
import { listRuns } from '../api/runs.ts';
import { filterKey, listParams, matchesFilter, showsNewest, type ListState } from './listState.ts';

export interface RunsListState {
  /** The page the URL names; while another page loads, the one before it (never a blank table between pages). */
  page: RunList | undefined;
  runs: RunSummary[];
  /** First load (nothing to show yet). */
  loading: boolean;
  /** The rows shown are the previous page's, while the one asked for loads. */
  stale: boolean;
  error: ApiError | null;
  connection: StreamConnection;
  /** Runs created since the first page was read that match its filter (only on the first page, default order). */
  newRuns: number;
  /** Reads the page again (showing the new runs, or after an error). */
  refresh: () => void;
}

const NO_RUNS: RunSummary[] = [];
/** New runs remembered for the "N new runs" count, at most: past it the count stops growing until the page is read. */
const MAX_FRESH = 1000;

interface Fresh {
  /** The filter they matched: another filter starts the count again. */
  key: string;
  /** id → createdAt (ms). */
  runs: ReadonlyMap<string, number>;
}

/**
 * One page of the runs list from the server, kept live: the stream is asked for every run on it (a `run.summary`
 * replaces its line in place) and, on the first page in the default order, for every run created, counted as "N new
 * runs" until the page is read again (rows do not move under a pointer about to tick one).
 */
export function useRunsList(state: ListState): RunsListState {
  const params = listParams(state);
  const query = useQuery({
    queryKey: runKeys.list(params),
    queryFn: ({ signal }) => listRuns(params, signal),
    placeholderData: keepPreviousData,
  });
  const runs = query.data?.runs ?? NO_RUNS;
  const newest = showsNewest(state);
  useWatch({ runs: runs.map((r) => r.id), created: newest });
  const connection = useStreamConnection();

  // A run counts as new while it is newer than the newest row and not on the page: derived, never reset by hand.
  const onPage = new Set(runs.map((r) => r.id));
  const newestOnPage = runs.reduce((max, r) => Math.max(max, Date.parse(r.createdAt)), Number.NEGATIVE_INFINITY);
  const counts = (id: string, at: number) => !onPage.has(id) && at > newestOnPage;

  const key = filterKey(state);
  const [fresh, setFresh] = useState<Fresh>({ key, runs: new Map() });
  useStreamMessages((m) => {
    if (m.type !== 'run.summary' || !newest || !matchesFilter(m.summary, state)) return;
    const { id, createdAt } = m.summary;
    // A commit of a run already on the page (watched) is not a new run.
    if (!counts(id, Date.parse(createdAt))) return;
    setFresh((prev) => {
      // Those the page now shows (it was read again) are dropped: the map holds only what the count counts.
      const kept = new Map([...(prev.key === key ? prev.runs : [])].filter(([i, at]) => counts(i, at)));
      if (!kept.has(id) && kept.size < MAX_FRESH) kept.set(id, Date.parse(createdAt));
      return { key, runs: kept };
    });
  });
  let newRuns = 0;
  if (newest && fresh.key === key) for (const [id, at] of fresh.runs) if (counts(id, at)) newRuns++;

  const error = query.error == null ? null : query.error instanceof ApiError ? query.error : new ApiError(0, 'UNKNOWN', String(query.error));
  return {
    page: query.data,
    runs,
    loading: query.isPending,
    stale: query.isPlaceholderData,
    error,
    connection,
    newRuns,
    refresh: () => void query.refetch(),
  };
}
