/**
 * Records src/test/fixtures/*.server.json from a running Tether server and its built-in simulator: launches one run per
 * scenario, waits until each is final (and a little longer, for callbacks that arrive late), then saves the run as
 * GET /api/runs/:id returns it, its summary from GET /api/runs and its log from GET /api/runs/:id/events.
 *
 *   pnpm start                                   # in another terminal (or TETHER_URL=http://host:port)
 *   pnpm --filter @tether/dashboard fixtures:server
 *
 * Tests pick up every *.server.json next to the *.machine.json ones (see src/test/fixtures.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Run, RunConfig, RunEventEntry, RunSummary } from '@tether/machine';

const BASE = (process.env.TETHER_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'test', 'fixtures');
const headers: Record<string, string> = { 'content-type': 'application/json' };
if (process.env.TETHER_API_TOKEN) headers.authorization = `Bearer ${process.env.TETHER_API_TOKEN}`;

interface Scenario {
  name: string;
  description: string;
  config: RunConfig;
  /** What the script does to the run once launched, as the external system would (the simulator cannot). */
  drive?: (run: Run) => Promise<void>;
}

const sim = (simulate: unknown, overrides: Partial<RunConfig> = {}): RunConfig => ({
  target: { url: `${BASE}/simulator/jobs` },
  payload: { simulate },
  timeoutSeconds: 3,
  retryLimit: 1,
  backoff: { initialSeconds: 1 },
  ...overrides,
});

const SCENARIOS: Scenario[] = [
  {
    name: 'server-seed',
    description: "The seed's scenario on the real server: attempt 1 never calls back, attempt 2 succeeds.",
    config: { name: 'seed scenario', ...sim({ perAttempt: ['never', 'success'], delaySeconds: 1 }, { retryLimit: 3 }) },
  },
  {
    name: 'server-late',
    description: 'The simulator calls back after each attempt timed out (410 late).',
    config: { name: 'late', ...sim({ outcome: 'late' }) },
  },
  {
    name: 'server-duplicate',
    description: 'The simulator sends its success callback twice (200 duplicate).',
    config: { name: 'duplicate', ...sim({ outcome: 'duplicate', delaySeconds: 1 }) },
  },
  {
    name: 'server-trigger-error',
    description: 'The trigger answers 5xx on every attempt.',
    config: { name: 'trigger error', ...sim({ outcome: 'triggerError' }) },
  },
  {
    name: 'server-failure',
    description: 'Every attempt calls back with failure; the run fails exhausted.',
    config: { name: 'failure', ...sim({ outcome: 'failure', delaySeconds: 1 }) },
  },
  {
    name: 'server-early',
    description: 'The callback arrives before the trigger request is answered.',
    config: { name: 'early', ...sim({ outcome: 'early' }) },
  },
  {
    name: 'server-not-retryable',
    description: 'Attempt 1 is failed by a callback saying retryable: false, sent to its signed URL; the run fails without retrying.',
    config: { name: 'not retryable', ...sim({ outcome: 'never' }, { timeoutSeconds: 20, retryLimit: 3 }) },
    drive: async (run) => {
      const attempt = await untilAwaiting(run.id);
      await postJson(attempt.callbackUrl!, { success: false, message: 'Unknown customer id', retryable: false });
    },
  },
  {
    name: 'server-deadline',
    description: 'Every attempt times out; the run deadline stops the retries before the retry limit does.',
    config: { name: 'deadline', ...sim({ outcome: 'never' }, { timeoutSeconds: 2, retryLimit: 5, deadlineSeconds: 5 }) },
  },
];

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${BASE}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POST to an absolute URL the server handed out (a signed callback URL), as the external system does. */
async function postJson(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${url} → ${res.status} ${await res.text()}`);
}

/** The run's current attempt once it waits for its callback. */
async function untilAwaiting(id: string, limitMs = 30_000): Promise<Run['attempts'][number]> {
  const start = Date.now();
  for (;;) {
    const run = await call<Run>('GET', `/api/runs/${id}`);
    const current = run.attempts[run.attempts.length - 1];
    if (current?.state === 'AwaitingCallback' && current.callbackUrl) return current;
    if (run.status !== 'running') throw new Error(`${id} finished before its attempt awaited a callback`);
    if (Date.now() - start > limitMs) throw new Error(`${id} never awaited a callback within ${limitMs} ms`);
    await sleep(200);
  }
}

async function untilFinal(id: string, limitMs = 90_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const run = await call<Run>('GET', `/api/runs/${id}`);
    if (run.status !== 'running') return;
    if (Date.now() - start > limitMs) throw new Error(`${id} still running after ${limitMs} ms`);
    await sleep(500);
  }
}

async function main() {
  await call('GET', '/api/runs?limit=1').catch((e: Error) => {
    throw new Error(`No Tether server at ${BASE} (${e.message}). Start one with pnpm start, or set TETHER_URL.`);
  });
  const launched = await Promise.all(SCENARIOS.map(async (s) => ({ s, run: await call<Run>('POST', '/api/runs', s.config) })));
  await Promise.all(launched.map(({ s, run }) => s.drive?.(run)));
  await Promise.all(launched.map(({ run }) => untilFinal(run.id)));
  // Late and duplicate callbacks land after the run settles; give them time to be recorded.
  await sleep(5_000);
  const list = await call<{ runs: RunSummary[] }>('GET', '/api/runs?limit=500');
  mkdirSync(OUT, { recursive: true });
  for (const { s, run: created } of launched) {
    const run = await call<Run>('GET', `/api/runs/${created.id}`);
    const { events } = await call<{ events: RunEventEntry[] }>('GET', `/api/runs/${created.id}/events`);
    const summary = list.runs.find((r) => r.id === run.id);
    if (!summary) throw new Error(`${run.id} missing from GET /api/runs`);
    const fixture = {
      fixture: s.name,
      recordedWith: `scripts/record-fixtures.ts against ${BASE} (the real server and simulator)`,
      description: s.description,
      now: new Date().toISOString(),
      run,
      summary,
      events,
    };
    // Signatures are only valid for the server that recorded them; keep them out of the repository all the same.
    const text = JSON.stringify(fixture, null, 2).replace(/([?&]sig=)[A-Za-z0-9_-]+/g, '$1recorded');
    writeFileSync(join(OUT, `${s.name}.server.json`), `${text}\n`);
    console.log(`wrote ${s.name}.server.json  state=${run.state} attempts=${run.attempts.length} events=${events.length}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
