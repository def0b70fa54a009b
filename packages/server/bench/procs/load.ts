/**
 * The load generator, in its own process: autocannon against one server on loopback, bounded by duration.
 *   node --import tsx bench/procs/load.ts <spec.json>
 * spec: { base, method, body, connections, durationSec, paths? (file with one path per line, used round-robin),
 *         path?, bodies? (file with one body per line, round-robin) }
 * Prints one JSON line with requests/s, latency and the status-code histogram.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

interface Spec {
  base: string;
  method: 'POST' | 'GET';
  body?: string;
  connections: number;
  durationSec: number;
  path?: string;
  paths?: string;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;
const paths = spec.paths ? readFileSync(spec.paths, 'utf8').split('\n').filter(Boolean) : [spec.path ?? '/'];
let next = 0;

const statuses: Record<string, number> = {};
const result = await autocannon({
  url: spec.base,
  connections: spec.connections,
  duration: spec.durationSec,
  requests: [
    {
      method: spec.method,
      headers: { 'content-type': 'application/json' },
      ...(spec.body !== undefined ? { body: spec.body } : {}),
      setupRequest: (req: Record<string, unknown>) => {
        req.path = paths[next++ % paths.length];
        return req;
      },
      onResponse: (status: number) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
      },
    },
  ],
});
console.log(
  JSON.stringify({
    rps: result.requests.average,
    total: result.requests.total,
    durationSec: result.duration,
    latency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statuses,
  }),
);
