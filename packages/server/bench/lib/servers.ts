/** Starting the processes a row needs: a Tether server on a data dir, the bare Fastify yardstick, the load generator. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startChild, runChild, type Child } from './child.ts';
import { BENCH_SECRET } from './seed.ts';
import { getJson, postJson } from './util.ts';

export interface Server {
  name: string;
  base: string;
  child: Child;
  stop(): Promise<void>;
}

export interface ServerStats {
  eld: { maxMs: number; p99Ms: number; meanMs: number; count: number };
  cpuShare: number;
  heapUsed: number;
  rss: number;
  /** process.memoryUsage() of the server's process, in full. */
  memory: NodeJS.MemoryUsage;
  runs: number;
  activeRuns: number;
  timers: number;
  /** TETHER_STORE=postgres: the node's cluster counters (src/engine/cluster.ts `stats`); null on the file store. */
  cluster: { notifiesSent: number; notificationsReceived: number; caughtUp: number; timersTakenOver: number; triggersTakenOver: number } | null;
}

export async function startTether(name: string, dataDir: string, extraEnv: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Server> {
  const child = await startChild('bench/procs/tether-server.ts', {
    name,
    nodeArgs,
    env: {
      PORT: '0',
      HOST: '127.0.0.1',
      TETHER_DATA_DIR: dataDir,
      TETHER_SECRET: BENCH_SECRET,
      TETHER_LOG_LEVEL: 'warn',
      TETHER_SIMULATOR: 'off',
      ...extraEnv,
    },
  });
  const base = `http://127.0.0.1:${child.info.port as number}`;
  return { name, base, child, stop: () => child.stop() };
}

export async function startBare(name = 'bare fastify'): Promise<Server> {
  const child = await startChild('bench/procs/bare-server.ts', { name });
  return { name, base: `http://127.0.0.1:${child.info.port as number}`, child, stop: () => child.stop() };
}

export const stats = (s: Server) => getJson<ServerStats>(`${s.base}/__bench/stats`);
export const resetStats = (s: Server) => postJson(`${s.base}/__bench/reset`);
export const waitIdle = (s: Server) => getJson(`${s.base}/__bench/idle`);

export interface LoadResult {
  rps: number;
  total: number;
  durationSec: number;
  latency: { p50: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statuses: Record<string, number>;
  /** With `LoadSpec.targets`: each server's own figures (the top level is their sum, latency the worst). */
  perTarget?: (Omit<LoadResult, 'perTarget'> & { base: string })[];
}

export interface LoadSpec {
  base: string;
  method: 'POST';
  body: string;
  connections: number;
  durationSec: number;
  /** Paths used round-robin. */
  paths: string[];
  /** Several servers loaded at once from the one load process (then `base`, `connections` and `paths` are unused). */
  targets?: { base: string; connections: number; paths: string[] }[];
}

let specCounter = 0;
export async function runLoad(workDir: string, spec: LoadSpec): Promise<LoadResult> {
  const n = ++specCounter;
  const pathsFile = join(workDir, `paths-${n}.txt`);
  await writeFile(pathsFile, spec.paths.join('\n'));
  const targets = await Promise.all(
    (spec.targets ?? []).map(async (t, i) => {
      const file = join(workDir, `paths-${n}-${i}.txt`);
      await writeFile(file, t.paths.join('\n'));
      return { base: t.base, connections: t.connections, paths: file };
    }),
  );
  const specFile = join(workDir, `load-${n}.json`);
  await writeFile(
    specFile,
    JSON.stringify({
      base: spec.base,
      method: spec.method,
      body: spec.body,
      connections: spec.connections,
      durationSec: spec.durationSec,
      paths: pathsFile,
      ...(spec.targets ? { targets } : {}),
    }),
  );
  return runChild<LoadResult>('bench/procs/load.ts', { name: 'load generator', args: [specFile], timeoutMs: (spec.durationSec + 60) * 1000 });
}
