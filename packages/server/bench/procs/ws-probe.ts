/**
 * B6 client side, in its own process: `clients` WebSocket clients on /api/stream, then one success callback after
 * another to waiting runs (paced), timing each from just before the POST until each client receives that run's
 * `run.updated` with status `succeeded`. All clients and the sender share this process's clock. The first `warmup`
 * callbacks are sent and delivered first and not counted: the server's first responses compile serializers and JIT
 * the engine, which is start-up, not steady-state latency.
 *   node --import tsx bench/procs/ws-probe.ts <spec.json>   spec: { base, clients, runs: [{ runId, attemptId }], paceMs, warmup,
 *                                                                  callbackBase? }
 * `callbackBase` (default `base`): where the callbacks are POSTed — another node of a cluster than the one the clients
 * are connected to (B12).
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { callbackPath } from '../lib/seed.ts';
import { summarize } from '../lib/util.ts';

interface Spec {
  base: string;
  clients: number;
  runs: { runId: string; attemptId: string }[];
  paceMs: number;
  warmup: number;
  callbackBase?: string;
}
const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;
const wsUrl = `${spec.base.replace(/^http/, 'ws')}/api/stream`;

const sentAt = new Map<string, number>();
let samples: number[] = [];
let expected = 0;
let received = 0;
let allDone!: () => void;
let done = new Promise<void>((r) => (allDone = r));

// The probe's own event loop: a late message here is the client's delay, not the server's.
const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();

const sockets = await Promise.all(
  Array.from(
    { length: spec.clients },
    () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(wsUrl);
        let ready = false;
        ws.on('message', (data) => {
          const text = data.toString();
          if (!ready) {
            // The first message is the snapshot: the client is subscribed from here on.
            ready = true;
            resolve(ws);
            return;
          }
          if (!text.startsWith('{"type":"run.updated"')) return;
          const m = /"id":"(run_[^"]+)"/.exec(text);
          const t0 = m ? sentAt.get(m[1]!) : undefined;
          if (t0 === undefined || !text.includes('"status":"succeeded"')) return;
          samples.push(performance.now() - t0);
          if (++received === expected) allDone();
        });
        ws.on('error', reject);
      }),
  ),
);

async function round(runs: Spec['runs']): Promise<void> {
  samples = [];
  received = 0;
  expected = runs.length * spec.clients;
  done = new Promise<void>((r) => (allDone = r));
  const posts: Promise<void>[] = [];
  for (const r of runs) {
    sentAt.set(r.runId, performance.now());
    posts.push(
      fetch(`${spec.callbackBase ?? spec.base}${callbackPath(r.runId, r.attemptId)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"success":true,"message":"done"}',
      }).then(async (res) => {
        if (res.status !== 200) throw new Error(`callback ${r.runId}: ${res.status} ${await res.text()}`);
      }),
    );
    await new Promise((res) => setTimeout(res, spec.paceMs));
  }
  await Promise.all(posts);
  const timeout = setTimeout(() => allDone(), 30_000);
  await done;
  clearTimeout(timeout);
}

await round(spec.runs.slice(0, spec.warmup));
eld.reset();
await round(spec.runs.slice(spec.warmup));
for (const ws of sockets) ws.close();
eld.disable();
console.log(
  JSON.stringify({
    clients: spec.clients,
    callbacks: spec.runs.length - spec.warmup,
    expected,
    received,
    latencyMs: summarize(samples),
    probeEventLoopMaxMs: eld.max / 1e6,
  }),
);
