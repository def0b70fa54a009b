/**
 * Every setting, from the environment. Documented in the README's configuration table; keep them in step.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Settings {
  /** HOST: interface to listen on. @default 127.0.0.1 */
  host: string;
  /** PORT: TCP port; 0 picks a free one. @default 3000 */
  port: number;
  /** TETHER_DATA_DIR: where runs and the secret live. @default ./data */
  dataDir: string;
  /** TETHER_PUBLIC_URL: base of callback URLs handed to external systems. @default http://{host}:{port} */
  publicUrl: string | null;
  /** TETHER_SECRET: HMAC secret for callback signatures. @default generated into {dataDir}/secret (0600) */
  secret: string | null;
  /** TETHER_API_TOKEN: when set, /api/runs*, /api/stream need `Authorization: Bearer <token>`. @default none */
  apiToken: string | null;
  /** TETHER_STORE: `file` (embedded, one node) or `postgres` (one or several nodes on one database). @default file */
  store: 'file' | 'postgres';
  /** TETHER_DATABASE_URL (or DATABASE_URL): postgres://user:password@host:port/db; needed with TETHER_STORE=postgres. */
  databaseUrl: string | null;
  /** TETHER_NODE_ID: this node's name in claims, logs and /healthz. @default {hostname}:{pid} */
  nodeId: string;
  /** TETHER_FSYNC=1: fsync file and directory before acknowledging a commit. @default off */
  fsync: boolean;
  /** TETHER_SIMULATOR=off disables the built-in simulator at /simulator/jobs. @default on */
  simulator: boolean;
  /**
   * TETHER_SIMULATOR_MAX_PENDING: delayed callbacks the built-in simulator holds at once; a trigger beyond is answered
   * 429 TETHER_SIMULATOR_BUSY, so a flood of triggers cannot grow the server's memory without bound. @default 1000
   */
  simulatorMaxPending: number;
  /** TETHER_BODY_LIMIT: largest request body, bytes. @default 1048576 (1 MiB) */
  bodyLimit: number;
  /**
   * TETHER_MAX_OUTPUT_BYTES: largest callback `output` and heartbeat `progress` (UTF-8 bytes of its JSON); a larger one
   * is answered 413 naming the field. Both are stored on the attempt, so they are rewritten with the run's every commit.
   * @default 65536
   */
  maxOutputBytes: number;
  /**
   * TETHER_FORGED_LOG_INTERVAL_MS: bad-signature callbacks to one run are recorded once per interval (the first at once,
   * the rest as one summary entry when it ends), not one durable write each. @default 1000
   */
  forgedLogIntervalMs: number;
  /**
   * TETHER_FORGED_RATE_LIMIT: bad-signature requests allowed per run and per client address in one interval; beyond,
   * 429 rate_limited with Retry-After. Correctly signed requests are never limited. @default 20
   */
  forgedRateLimit: number;
  /**
   * TETHER_MAX_RUN_BYTES: largest run document (JSON bytes) a callback, heartbeat or operator action may grow a run to;
   * beyond, 413 TETHER_RUN_TOO_LARGE and the run is unchanged. Every commit rewrites the run's document, so this also
   * bounds the cost of one commit. @default 8388608 (8 MiB)
   */
  maxRunBytes: number;
  /** TETHER_NOTIFY_MAX_ATTEMPTS: tries of a run's completion webhook before it is given up (recorded). @default 10 */
  notifyMaxAttempts: number;
  /** TETHER_NOTIFY_BACKOFF_MS: delay before the second try, doubled after each. @default 1000 */
  notifyBackoffMs: number;
  /** TETHER_NOTIFY_MAX_BACKOFF_MS: the longest delay between two tries. @default 300000 */
  notifyMaxBackoffMs: number;
  /** TETHER_NOTIFY_TIMEOUT_MS: a try without an answer by then is cut and counts as failed. @default 10000 */
  notifyTimeoutMs: number;
  /**
   * TETHER_RETENTION_DAYS: final runs that finished longer ago than this are deleted (a sweep at start and every
   * hour). Fractions allowed. @default none: keep forever
   */
  retentionDays: number | null;
  /** TETHER_METRICS_TOKEN: a bearer token /metrics accepts besides TETHER_API_TOKEN. @default none */
  metricsToken: string | null;
  /** TETHER_LIFECYCLE_LOG_LEVEL: level of the one-line-per-transition run lifecycle log. @default info */
  lifecycleLogLevel: string;
  /** TETHER_LOG_LEVEL: pino level. @default info */
  logLevel: string;
  /** TETHER_DASHBOARD_DIR: built dashboard to serve at /. @default packages/dashboard/dist */
  dashboardDir: string;
  /** TETHER_DASHBOARD_SOURCEMAPS=1: serve the dashboard's source maps (`*.map`); off, they answer 404. @default off */
  dashboardSourcemaps: boolean;
  /**
   * TETHER_ALLOWED_TARGETS: comma-separated hosts (`jobs.internal`, `10.0.0.5:8080`) or URL prefixes
   * (`https://api.example.com/jobs/`) a run may target. Empty: any http(s) URL. The built-in simulator stays allowed.
   * @default empty
   */
  allowedTargets: string[];
  /** TETHER_INSPECT=1 (or `--inspect` on the start command): stream every run to the Stately inspector. @default off */
  inspect: boolean;
  /** TETHER_INSPECT_PORT: port of the local inspector relay (it listens on HOST, like the API); 0 picks a free one. @default 8080 */
  inspectPort: number;
  /**
   * TETHER_STREAM_MAX_CLIENTS: WebSocket clients on /api/stream at once; one more is accepted and closed at once with
   * code 1013 (try again later). @default 10000
   */
  streamMaxClients: number;
  /**
   * TETHER_STREAM_MAX_BUFFER_BYTES: bytes one stream client may have waiting (socket buffer + coalesced backlog) before
   * it is closed with code 1008 as too slow. @default 8388608 (8 MiB)
   */
  streamMaxBufferBytes: number;
}

export class SettingsError extends Error {}

const flag = (v: string | undefined, dflt: boolean): boolean => {
  if (v === undefined || v === '') return dflt;
  if (/^(1|true|on|yes)$/i.test(v)) return true;
  if (/^(0|false|off|no)$/i.test(v)) return false;
  throw new SettingsError(`expected on/off, got "${v}"`);
};

function int(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new SettingsError(`${name} must be an integer in [${min}, ${max}], got "${v}"`);
  return n;
}

/** Hosts are compared lowercased, as URL parsing reports them; a prefix must itself be an http(s) URL. */
function allowedTargets(v: string | undefined): string[] {
  const entries = (v ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  return entries.map((e) => {
    if (e.includes('://')) {
      let u: URL;
      try {
        u = new URL(e);
      } catch {
        throw new SettingsError(`TETHER_ALLOWED_TARGETS: "${e}" is not a URL`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SettingsError(`TETHER_ALLOWED_TARGETS: "${e}" must be an http(s) URL`);
      if (u.username || u.password || u.search || u.hash)
        throw new SettingsError(`TETHER_ALLOWED_TARGETS: "${e}" must be a plain URL prefix (no credentials, query or fragment)`);
      return u.href;
    }
    if (!/^([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?$/i.test(e))
      throw new SettingsError(`TETHER_ALLOWED_TARGETS: "${e}" is neither a host[:port] nor an http(s) URL prefix`);
    return e.toLowerCase();
  });
}

function positiveNumber(name: string, v: string | undefined): number | null {
  if (v === undefined || v === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new SettingsError(`${name} must be a number of days > 0, got "${v}"`);
  return n;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
function logLevelOf(name: string, v: string | undefined, dflt: string): string {
  if (v === undefined || v === '') return dflt;
  if (!LEVELS.includes(v)) throw new SettingsError(`${name} must be one of ${LEVELS.join(', ')}, got "${v}"`);
  return v;
}

function storeKind(v: string | undefined): Settings['store'] {
  if (v === undefined || v === '' || v === 'file') return 'file';
  if (v === 'postgres' || v === 'postgresql') return 'postgres';
  throw new SettingsError(`TETHER_STORE must be "file" or "postgres", got "${v}"`);
}

function databaseUrl(env: NodeJS.ProcessEnv): string | null {
  const url = env.TETHER_DATABASE_URL || env.DATABASE_URL || null;
  const name = env.TETHER_DATABASE_URL ? 'TETHER_DATABASE_URL' : 'DATABASE_URL';
  if (url && !/^postgres(ql)?:\/\//.test(url)) throw new SettingsError(`${name} must be a postgres:// URL`);
  if (!url && storeKind(env.TETHER_STORE) === 'postgres')
    throw new SettingsError('TETHER_STORE=postgres needs TETHER_DATABASE_URL (or DATABASE_URL)');
  return url;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Settings> = {}): Settings {
  const named = (name: string, fn: () => boolean) => {
    try {
      return fn();
    } catch (e) {
      throw new SettingsError(`${name}: ${(e as Error).message}`);
    }
  };
  const publicUrl = env.TETHER_PUBLIC_URL?.replace(/\/+$/, '') || null;
  if (publicUrl && !/^https?:\/\/[^/]+/.test(publicUrl)) throw new SettingsError(`TETHER_PUBLIC_URL must be an http(s) URL, got "${publicUrl}"`);
  return {
    host: env.HOST || '127.0.0.1',
    port: int('PORT', env.PORT, 3000, 0, 65535),
    dataDir: resolve(env.TETHER_DATA_DIR || './data'),
    publicUrl,
    secret: env.TETHER_SECRET || null,
    apiToken: env.TETHER_API_TOKEN || null,
    store: storeKind(env.TETHER_STORE),
    databaseUrl: databaseUrl(env),
    nodeId: env.TETHER_NODE_ID || `${hostname()}:${process.pid}`,
    fsync: named('TETHER_FSYNC', () => flag(env.TETHER_FSYNC, false)),
    simulator: named('TETHER_SIMULATOR', () => flag(env.TETHER_SIMULATOR, true)),
    simulatorMaxPending: int('TETHER_SIMULATOR_MAX_PENDING', env.TETHER_SIMULATOR_MAX_PENDING, 1000, 1, 1_000_000),
    bodyLimit: int('TETHER_BODY_LIMIT', env.TETHER_BODY_LIMIT, 1_048_576, 1024, 64 * 1_048_576),
    maxOutputBytes: int('TETHER_MAX_OUTPUT_BYTES', env.TETHER_MAX_OUTPUT_BYTES, 65_536, 16, 64 * 1_048_576),
    forgedLogIntervalMs: int('TETHER_FORGED_LOG_INTERVAL_MS', env.TETHER_FORGED_LOG_INTERVAL_MS, 1000, 100, 3_600_000),
    forgedRateLimit: int('TETHER_FORGED_RATE_LIMIT', env.TETHER_FORGED_RATE_LIMIT, 20, 1, 1_000_000),
    maxRunBytes: int('TETHER_MAX_RUN_BYTES', env.TETHER_MAX_RUN_BYTES, 8 * 1_048_576, 65_536, 1024 * 1_048_576),
    notifyMaxAttempts: int('TETHER_NOTIFY_MAX_ATTEMPTS', env.TETHER_NOTIFY_MAX_ATTEMPTS, 10, 1, 1000),
    notifyBackoffMs: int('TETHER_NOTIFY_BACKOFF_MS', env.TETHER_NOTIFY_BACKOFF_MS, 1000, 1, 86_400_000),
    notifyMaxBackoffMs: int('TETHER_NOTIFY_MAX_BACKOFF_MS', env.TETHER_NOTIFY_MAX_BACKOFF_MS, 300_000, 1, 86_400_000),
    notifyTimeoutMs: int('TETHER_NOTIFY_TIMEOUT_MS', env.TETHER_NOTIFY_TIMEOUT_MS, 10_000, 100, 600_000),
    logLevel: env.TETHER_LOG_LEVEL || 'info',
    metricsToken: env.TETHER_METRICS_TOKEN || null,
    retentionDays: positiveNumber('TETHER_RETENTION_DAYS', env.TETHER_RETENTION_DAYS),
    lifecycleLogLevel: logLevelOf('TETHER_LIFECYCLE_LOG_LEVEL', env.TETHER_LIFECYCLE_LOG_LEVEL, 'info'),
    dashboardDir: resolve(env.TETHER_DASHBOARD_DIR || fileURLToPath(new URL('../../dashboard/dist', import.meta.url))),
    dashboardSourcemaps: named('TETHER_DASHBOARD_SOURCEMAPS', () => flag(env.TETHER_DASHBOARD_SOURCEMAPS, false)),
    allowedTargets: allowedTargets(env.TETHER_ALLOWED_TARGETS),
    inspect: named('TETHER_INSPECT', () => flag(env.TETHER_INSPECT, false)),
    inspectPort: int('TETHER_INSPECT_PORT', env.TETHER_INSPECT_PORT, 8080, 0, 65535),
    streamMaxClients: int('TETHER_STREAM_MAX_CLIENTS', env.TETHER_STREAM_MAX_CLIENTS, 10_000, 1, 1_000_000),
    streamMaxBufferBytes: int('TETHER_STREAM_MAX_BUFFER_BYTES', env.TETHER_STREAM_MAX_BUFFER_BYTES, 8 * 1_048_576, 65_536, 1024 * 1_048_576),
    ...overrides,
  };
}

/** Callback URLs need an address other processes can reach: 0.0.0.0 is not one. */
export function defaultPublicUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}
