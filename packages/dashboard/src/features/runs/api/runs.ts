import type { RunList, RunListQuery } from '@tether/machine/protocol';
import { api } from '../../../lib/http.ts';

/** The list query as the page holds it: `limit` a number here, the string the query string carries on the wire. */
export type ListParams = Pick<RunListQuery, 'status' | 'name' | 'cursor'> & { limit?: number };

export function listRuns(params: ListParams = {}, signal?: AbortSignal): Promise<RunList> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return api<RunList>(`/api/runs${qs ? `?${qs}` : ''}`, signal ? { signal } : {});
}
