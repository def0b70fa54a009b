import { useCallback, useEffect, useState } from 'react';
import type { Run, RunEventEntry, StreamMessage } from '@tether/machine/protocol';
import { ApiError } from '../../../lib/http.ts';
import { useStream, type StreamConnection } from '../../../lib/stream/useStream.ts';
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
  const bySeq = new Map(current.map((e) => [e.seq, e]));
  for (const e of incoming) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** The run and its event log, fetched once and then kept live by `/api/stream?runId=`. */
export function useRunDetail(id: string): RunDetailState {
  const [run, setRun] = useState<Run | null>(null);
  const [events, setEvents] = useState<RunEventEntry[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);

  const accept = useCallback((next: Run) => {
    setRun((prev) => (prev && prev.id === next.id && prev.updatedAt > next.updatedAt ? prev : next));
  }, []);

  const load = useCallback(
    (signal?: AbortSignal) => {
      Promise.all([getRun(id, signal), getEvents(id, signal)])
        .then(([r, ev]) => {
          accept(r);
          setEvents((cur) => mergeEvents(cur, ev));
          setError(null);
        })
        .catch((e: unknown) => {
          if ((e as Error).name === 'AbortError') return;
          setError(e instanceof ApiError ? e : new ApiError(0, 'UNKNOWN', String(e)));
        })
        .finally(() => setLoading(false));
    },
    [id, accept],
  );

  useEffect(() => {
    const ctrl = new AbortController();
    load(ctrl.signal);
    return () => ctrl.abort();
  }, [load]);

  const onMessage = useCallback(
    (m: StreamMessage) => {
      if (m.type === 'snapshot') {
        // The subscription is live from here. Every connect — the first one too — may have missed commits: the first
        // fetch can be answered before the socket is open (a trigger answered within milliseconds of the launch was
        // never shown until the next commit), and a reconnect misses what happened while it was down. Read again.
        load();
      } else if (m.type === 'run.updated' && m.run.id === id) accept(m.run);
      else if (m.type === 'run.event' && m.runId === id) setEvents((cur) => mergeEvents(cur, [m.event]));
    },
    [id, accept, load],
  );
  const connection = useStream(id, onMessage);

  return { run, events, error, loading, connection, accept, reload: () => load() };
}
