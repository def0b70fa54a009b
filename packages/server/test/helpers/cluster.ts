/**
 * Several real Tether nodes (child processes, `node --import tsx src/server.ts`) on one PostgreSQL database, for the
 * cluster tests: each on its own loopback port and data directory, TETHER_STORE=postgres, its own TETHER_NODE_ID and
 * no TETHER_SECRET (the first node generates it into the database; the others must find it there). Plus small HTTP
 * helpers: a callback URL handed out by one node, sent to another.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Run, RunEventEntry } from '@tether/machine';
import { freePort, ServerProcess } from './soak-server.ts';

export interface ClusterNode {
  id: string;
  proc: ServerProcess;
  base: string;
}

export interface Cluster {
  nodes: ClusterNode[];
  close(): Promise<void>;
}

export async function startCluster(url: string, n: number, env: Record<string, string> = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-cluster-'));
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < n; i++) {
    const id = `n${i + 1}`;
    const proc = new ServerProcess({
      port: await freePort(),
      dataDir: join(dir, id),
      logFile: join(dir, `${id}.log`),
      env: { TETHER_STORE: 'postgres', TETHER_DATABASE_URL: url, TETHER_NODE_ID: id, TETHER_SIMULATOR: 'off', ...env },
    });
    nodes.push({ id, proc, base: proc.base });
  }
  // One at a time: they migrate one schema; the advisory lock makes that safe in parallel too, but boots are quicker apart.
  await nodes[0]!.proc.start();
  await Promise.all(nodes.slice(1).map((x) => x.proc.start()));
  return {
    nodes,
    async close() {
      await Promise.all(nodes.map((x) => x.proc.close().catch(() => {})));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 300)}`);
  }
}

export async function createRun(base: string, config: Record<string, unknown>): Promise<Run> {
  const res = await fetch(`${base}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  if (res.status !== 201) throw new Error(`create on ${base}: ${res.status} ${await res.text()}`);
  return json<Run>(res);
}

export async function getRun(base: string, id: string): Promise<Run> {
  const res = await fetch(`${base}/api/runs/${id}`);
  if (res.status !== 200) throw new Error(`GET run ${id} on ${base}: ${res.status} ${await res.text()}`);
  return json<Run>(res);
}

export async function getEvents(base: string, id: string): Promise<RunEventEntry[]> {
  return (await json<{ events: RunEventEntry[] }>(await fetch(`${base}/api/runs/${id}/events`))).events;
}

/** `url` (a callback URL some node handed out) sent to the node at `base` instead: any node must accept it. */
export function via(base: string, url: string): string {
  const u = new URL(url);
  return `${base}${u.pathname}${u.search}`;
}

export async function postCallback(url: string, body: unknown): Promise<{ status: number; result: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let result = '';
  try {
    result = (JSON.parse(text) as { result?: string }).result ?? '';
  } catch {
    /* a 503 from a node going down may not be JSON */
  }
  return { status: res.status, result };
}

/** Polls until `pred` holds (bounded): a hang detector, not a speed limit. */
export async function until<T>(what: string, fn: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await fn();
      if (pred(last)) return last;
    } catch {
      /* a node restarting: try again */
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The invariants every run must keep, whichever nodes touched it: its log's seq is gapless from 0; every attempt
 * ended by at most one applied event (a callback or a timeout, never both, never twice).
 */
export function checkRunLog(id: string, events: RunEventEntry[]): string[] {
  const problems: string[] = [];
  events.forEach((e, i) => {
    if (e.seq !== i) problems.push(`${id}: entry ${i} has seq ${e.seq}`);
  });
  const enders = new Map<string, string[]>();
  for (const e of events) {
    if (e.verdict !== 'applied' || !e.attemptId) continue;
    const ends = e.type === 'callback.received' || e.type.includes('attemptTimeout') || e.type.includes('heartbeatTimeout');
    if (ends) enders.set(e.attemptId, [...(enders.get(e.attemptId) ?? []), `${e.type}@${e.seq}`]);
  }
  for (const [attempt, list] of enders)
    if (list.length > 1) problems.push(`${id}: attempt ${attempt} ended ${list.length} times: ${list.join(', ')}`);
  // A timer (its event type and due time) applied twice would be one timeout acted on by two nodes.
  const fired = new Map<string, number>();
  for (const e of events) {
    const due = e.source === 'timer' && e.verdict === 'applied' ? /Timer due (\S+) fired/.exec(e.detail ?? '')?.[1] : undefined;
    if (due) fired.set(`${e.type}@${due}`, (fired.get(`${e.type}@${due}`) ?? 0) + 1);
  }
  for (const [timer, count] of fired) if (count > 1) problems.push(`${id}: timer ${timer} applied ${count} times`);
  return problems;
}
