import { useCallback, useEffect, useState } from 'react';
import type { RunSummary, StreamMessage } from '@tether/machine/protocol';
import { ApiError } from '../../../lib/http.ts';
import { useStream, type StreamConnection } from '../../../lib/stream/useStream.ts';
import { listRuns } from '../api/runs.ts';

const newestFirst = (a: RunSummary, b: RunSummary) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1);

export interface RunsListState {
  runs: RunSummary[];
  loaded: boolean;
  error: ApiError | null;
  connection: StreamConnection;
  nextCursor: string | null;
  loadMore: () => void;
}

/**
 * Every run this page knows, kept live: the first page over HTTP (so the list shows even before the socket opens),
 * then the stream's snapshot (authoritative after every connect) and a `run.updated` per commit, whose `summary` is
 * the server's own list line for the run: shown as is, never re-derived from the run here.
 */
export function useRunsList(): RunsListState {
  const [byId, setById] = useState<Map<string, RunSummary>>(() => new Map());
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [nextCursor, setNextCursor] = useState<string | null>(null);

  const merge = useCallback((runs: RunSummary[], replace: boolean) => {
    setById((prev) => {
      const next = replace ? new Map<string, RunSummary>() : new Map(prev);
      for (const r of runs) {
        const old = next.get(r.id);
        // Messages can cross: never let an older commit overwrite a newer one.
        if (!old || old.updatedAt <= r.updatedAt) next.set(r.id, r);
      }
      return next;
    });
  }, []);

  useEffect(() => {
    const ctrl = new AbortController();
    listRuns({ limit: 200 }, ctrl.signal)
      .then((page) => {
        merge(page.runs, false);
        setNextCursor(page.nextCursor);
        setError(null);
        setLoaded(true);
      })
      .catch((e: unknown) => {
        if ((e as Error).name === 'AbortError') return;
        setError(e instanceof ApiError ? e : new ApiError(0, 'UNKNOWN', String(e)));
      });
    return () => ctrl.abort();
  }, [merge]);

  const onMessage = useCallback(
    (m: StreamMessage) => {
      if (m.type === 'snapshot') {
        merge(m.runs, false);
        setLoaded(true);
        setError(null);
      } else if (m.type === 'run.updated') merge([m.summary], false);
    },
    [merge],
  );
  const connection = useStream(null, onMessage);

  const loadMore = useCallback(() => {
    if (!nextCursor) return;
    listRuns({ limit: 200, cursor: nextCursor })
      .then((page) => {
        merge(page.runs, false);
        setNextCursor(page.nextCursor);
      })
      .catch((e: unknown) => setError(e instanceof ApiError ? e : new ApiError(0, 'UNKNOWN', String(e))));
  }, [merge, nextCursor]);

  return { runs: [...byId.values()].sort(newestFirst), loaded, error, connection, nextCursor, loadMore };
}
