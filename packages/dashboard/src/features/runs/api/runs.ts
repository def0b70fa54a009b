import type { Run, RunSummary } from '@tether/machine';
import { api } from '../../../lib/http.ts';

export interface RunList {
  runs: RunSummary[];
  nextCursor: string | null;
}

export function listRuns(params: { status?: string; name?: string; limit?: number; cursor?: string } = {}, signal?: AbortSignal): Promise<RunList> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return api<RunList>(`/api/runs${qs ? `?${qs}` : ''}`, signal ? { signal } : {});
}

/** A `run.updated` message carries the full Run; the list keeps summaries, folded here the way the server projects them. */
export function summaryFromRun(run: Run): RunSummary {
  const last = run.attempts[run.attempts.length - 1];
  return {
    id: run.id,
    name: run.name,
    status: run.status,
    state: run.state,
    attempt: run.attempt,
    maxAttempts: run.maxAttempts,
    nextDueAt: run.nextDueAt,
    lastMessage: last?.message ?? run.overallState,
    overallState: run.overallState,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    finishedAt: run.finishedAt,
    exhausted: run.exhausted,
  };
}
