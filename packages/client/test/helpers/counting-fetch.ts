import type { FetchLike } from '../../src/index.ts';

/** fetch that counts the requests it sends, by method and path (with the query). */
export function countingFetch(): { fetch: FetchLike; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push(`${init?.method ?? 'GET'} ${new URL(input).pathname}${new URL(input).search}`);
      return globalThis.fetch(input, init);
    },
  };
}
