/**
 * The query keys of the runs API, in one place: the pages read these queries and the stream writes into the same ones
 * (src/lib/stream/streamCache.ts), so a key spelled twice would be a list that never updates.
 */
import type { ListPageQuery } from '@tether/client';

/** One page of the list as the page asks for it: the client's query (filters, sort, cursor), with its page size. */
export type RunListParams = ListPageQuery & { limit: number };

export const runKeys = {
  all: ['runs'] as const,
  /** Every cached page of the list, whatever its filters. */
  lists: () => ['runs', 'list'] as const,
  list: (params: RunListParams) => ['runs', 'list', params] as const,
  detail: (id: string) => ['runs', 'detail', id] as const,
  events: (id: string) => ['runs', 'events', id] as const,
};
