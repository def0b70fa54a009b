/**
 * The app's one QueryClient. The stream keeps what it watches fresh (src/lib/stream), so the defaults trust the
 * cache: no re-read on window focus, and a 4xx is an answer, not a blip to retry.
 */
import { QueryClient } from '@tanstack/react-query';
import { ApiError } from './http.ts';

const MAX_RETRIES = 2;

/** Network failures and 5xx are retried a little; the server's refusals (404 for a missing run, 401, 422) are final. */
export function shouldRetry(failures: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
  return failures < MAX_RETRIES;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { retry: shouldRetry, refetchOnWindowFocus: false, staleTime: 5_000 },
      mutations: { retry: false },
    },
  });
}
