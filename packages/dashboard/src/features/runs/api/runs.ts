import type { RunList, RunListQuery } from '@tether/machine/protocol';
import { runsApi } from '../../../lib/tether.ts';

/** The list query as the page holds it: `limit` a number here, the string the query string carries on the wire. */
export type ListParams = Pick<RunListQuery, 'status' | 'name' | 'cursor'> & { limit?: number };

/** An empty filter is no filter: it is left out of the query string. */
const given = <T>(v: T | '' | undefined): T | undefined => (v === '' ? undefined : v);

export function listRuns(params: ListParams = {}, signal?: AbortSignal): Promise<RunList> {
  const { status, name, cursor, limit } = params;
  return runsApi(
    (runs) => runs.listPage({ status: given(status), name: given(name), cursor: given(cursor), limit }, signal ? { signal } : {}),
    signal,
  );
}
