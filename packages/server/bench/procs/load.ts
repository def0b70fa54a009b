/**
 * The load generator, in its own process: autocannon against one server on loopback, bounded by duration.
 *   node --import tsx bench/procs/load.ts <spec.json>
 * spec: { base, method, body, connections, durationSec, paths? (file with one path per line, used round-robin),
 *         path?, bodies? (file with one body per line, round-robin),
 *         targets? ([{ base, paths, connections }]: several servers at once, one autocannon each, same duration) }
 * Prints one JSON line with requests/s, latency and the status-code histogram (with `targets`: summed, worst p99,
 * and each target's own figures under `perTarget`).
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

interface Target {
  base: string;
  connections: number;
  paths?: string;
}

interface Spec extends Target {
  method: 'POST' | 'GET';
  body?: string;
  durationSec: number;
  path?: string;
  targets?: Target[];
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;

async function load(t: Target) {
  const paths = t.paths ? readFileSync(t.paths, 'utf8').split('\n').filter(Boolean) : [spec.path ?? '/'];
  let next = 0;
  const statuses: Record<string, number> = {};
  const result = await autocannon({
    url: t.base,
    connections: t.connections,
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
  return {
    base: t.base,
    rps: result.requests.average,
    total: result.requests.total,
    durationSec: result.duration,
    latency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statuses,
  };
}

if (!spec.targets) {
  const { base: _base, ...one } = await load(spec);
  console.log(JSON.stringify(one));
} else {
  const each = await Promise.all(spec.targets.map(load));
  const sum = (f: (r: (typeof each)[number]) => number) => each.reduce((a, r) => a + f(r), 0);
  const statuses: Record<string, number> = {};
  for (const r of each) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  console.log(
    JSON.stringify({
      rps: sum((r) => r.rps),
      total: sum((r) => r.total),
      durationSec: Math.max(...each.map((r) => r.durationSec)),
      // Per-target histograms are not merged: the worst target's p50/p99 stands for the whole.
      latency: {
        p50: Math.max(...each.map((r) => r.latency.p50)),
        p99: Math.max(...each.map((r) => r.latency.p99)),
        max: Math.max(...each.map((r) => r.latency.max)),
      },
      errors: sum((r) => r.errors),
      timeouts: sum((r) => r.timeouts),
      non2xx: sum((r) => r.non2xx),
      statuses,
      perTarget: each,
    }),
  );
}
