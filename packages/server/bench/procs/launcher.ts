/**
 * Launches runs through the API in batches, for B14 (memory per waiting run) and B15 (warm-up): `POST /api/runs`
 * with `inFlight` requests at a time until the batch's `batch` runs are created (each 201), then waits for the
 * server's `/__bench/idle` (every trigger sent and its outcome committed), and times the batch from its first
 * request to that. A launch is counted like B8 counts it: created, triggered, outcome committed.
 *
 *   node --import tsx bench/procs/launcher.ts <spec.json>
 *   spec: { base, body, total, batch, inFlight }
 * Prints `{"progress":…}` every 10 batches and one JSON line at the end: { batches: [{ n, ms, perSec }], totalSec }.
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

interface Spec {
  base: string;
  body: string;
  total: number;
  batch: number;
  inFlight: number;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;
const pool = new Pool(spec.base, { connections: spec.inFlight });

async function createOne(): Promise<void> {
  const res = await pool.request({ path: '/api/runs', method: 'POST', headers: { 'content-type': 'application/json' }, body: spec.body });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`POST /api/runs → ${res.statusCode}: ${text.slice(0, 300)}`);
}

async function idle(): Promise<void> {
  const res = await pool.request({ path: '/__bench/idle', method: 'GET' });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`/__bench/idle → ${res.statusCode}`);
}

const batches: { n: number; ms: number; perSec: number }[] = [];
let created = 0;
const started = performance.now();
while (created < spec.total) {
  const n = Math.min(spec.batch, spec.total - created);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(spec.inFlight, n) }, async () => {
      while (next < n) {
        next++;
        await createOne();
      }
    }),
  );
  await idle();
  const ms = performance.now() - t0;
  created += n;
  batches.push({ n, ms, perSec: (n / ms) * 1000 });
  if (batches.length === 1 || batches.length % 10 === 0 || created === spec.total)
    console.log(
      JSON.stringify({
        progress: `launched ${created}/${spec.total} (batch ${batches.length}: ${Math.round((n / ms) * 1000)}/s, ${Math.round((performance.now() - started) / 1000)} s so far)`,
      }),
    );
}
await pool.close();
console.log(JSON.stringify({ batches, totalSec: (performance.now() - started) / 1000 }));
