/**
 * The HTTP side of a test, at the fetch level (what the page and @tether/client call): each request is recorded and
 * answered by the test's handler, as the server would (a JSON body and a status).
 */
import { vi } from 'vitest';
import type { RunList, RunSummary } from '@tether/machine/protocol';
import { fixtures } from './fixtures.ts';

export interface ApiRequest {
  method: string;
  url: URL;
  body: unknown;
}

export interface ApiAnswer {
  status?: number;
  body: unknown;
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** Installs a fetch that answers with `handler`; returns every request made, in order. */
export function stubApi(handler: (req: ApiRequest) => ApiAnswer | Promise<ApiAnswer>): ApiRequest[] {
  const requests: ApiRequest[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string | URL | Request, init: RequestInit = {}) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, window.location.origin);
      const req = { method: init.method ?? 'GET', url, body: typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined };
      requests.push(req);
      const answer = await handler(req);
      return json(answer.body, answer.status ?? 200);
    }),
  );
  return requests;
}

/** A list line like the fixtures', as the server would send it for run `n` (ids sort by creation, as the server's). */
export function summary(n: number, patch: Partial<RunSummary> = {}): RunSummary {
  const createdAt = new Date(Date.parse('2026-03-02T09:00:00.000Z') + n * 1000).toISOString();
  return {
    ...fixtures.waiting.summary,
    id: `run_${String(n).padStart(4, '0')}`,
    name: `job ${n}`,
    createdAt,
    updatedAt: createdAt,
    ...patch,
  };
}

export function page(runs: RunSummary[], extra: Partial<RunList> = {}): RunList {
  return { runs, nextCursor: null, total: runs.length, ...extra };
}
