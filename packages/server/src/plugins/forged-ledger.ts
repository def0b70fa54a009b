/**
 * Bad-signature callbacks and heartbeats, counted in memory instead of written one by one.
 *
 * Recording a request on its run is a durable commit of the run's whole document (a journal line of it), so a flood of
 * forged callbacks to a known run id used to cost one whole-document write per request (≈ 67 KB each, on average, over
 * 500 forged callbacks to one run). Now, per run and per interval (TETHER_FORGED_LOG_INTERVAL_MS):
 *   - the first one is recorded at once, as before (the operator sees it, with its own message);
 *   - the later ones are only counted, and one summary entry is recorded when the interval ends
 *     ("37 more callbacks with a bad signature in the last 1 s; …; the last from attempt att_…");
 * so a flood costs at most two commits per run per interval, whatever its rate.
 *
 * And floods are refused: more than TETHER_FORGED_RATE_LIMIT bad-signature requests in one interval for one run, or
 * from one client address, are answered 429 rate_limited with Retry-After (and only counted). The signature is checked
 * before any of this, so a correctly signed request is never limited here.
 *
 * Memory is bounded: at most `maxRuns` runs and `maxClients` addresses are tracked at once; beyond, requests are
 * counted in one shared window (runs: logged, not recorded on a run; addresses: one shared limit).
 * Time is the app's injected clock, so tests drive the intervals with a ManualClock.
 */
import { formatSeconds } from '@tether/machine';
import type { Clock } from '../engine/clock.ts';

export type ForgedType = 'callback.received' | 'heartbeat.received';

/** What is recorded on the run: the same shape as every other refused webhook request. */
export interface ForgedEntry {
  type: ForgedType;
  attemptId: string;
  verdict: 'unauthorized';
  httpStatus: 401 | 429;
  detail: string;
  source: 'callback';
}

export interface ForgedRequest {
  runId: string;
  attemptId: string;
  type: ForgedType;
  /** The client's address (`req.ip`): the socket's peer, since no proxy is trusted. */
  client: string;
  /** Why it was refused ("Missing ?sig= signature." …): the first of an interval is recorded with it. */
  detail: string;
}

export type ForgedAnswer = { status: 401 } | { status: 429; retryAfterSeconds: number; message: string };

export interface ForgedLedgerOptions {
  clock: Clock;
  intervalMs: number;
  /** Bad-signature requests allowed per run and per client in one interval; the next ones are answered 429. */
  limit: number;
  /** Records one entry on a run (the engine's recordRejected): one durable commit. */
  record(runId: string, entry: ForgedEntry): Promise<unknown>;
  logger: { warn(obj: object, msg?: string): void };
  /** @default 10000 */
  maxRuns?: number;
  /** @default 10000 */
  maxClients?: number;
}

/** One run's current interval. */
interface RunWindow {
  start: number;
  timer: unknown;
  /** Requests seen in this interval, the first included: what the per-run limit counts. */
  seen: number;
  /** Whether the first one was recorded at once (not when it was itself refused with 429). */
  recordedFirst: boolean;
  /** Counted, not recorded yet: the summary reports them. */
  callbacks: number;
  heartbeats: number;
  limited: number;
  last: { type: ForgedType; attemptId: string; status: 401 | 429 };
}

interface ClientWindow {
  start: number;
  seen: number;
}

/** The key of the shared window for runs beyond `maxRuns` (never a run id: those start with `run_`). */
const OVERFLOW = '*';

export class ForgedLedger {
  private readonly runs = new Map<string, RunWindow>();
  private readonly clients = new Map<string, ClientWindow>();
  /** Addresses beyond `maxClients` share this window (and its limit). */
  private overflowClients: ClientWindow | null = null;
  private lastClientSweep = Number.NEGATIVE_INFINITY;
  private readonly pending = new Set<Promise<void>>();
  private readonly maxRuns: number;
  private readonly maxClients: number;
  private closed = false;

  constructor(private readonly opts: ForgedLedgerOptions) {
    this.maxRuns = opts.maxRuns ?? 10_000;
    this.maxClients = opts.maxClients ?? 10_000;
  }

  /** Runs with an open interval (not counting the shared window of the runs beyond the cap). */
  get trackedRuns(): number {
    return this.runs.size - (this.runs.has(OVERFLOW) ? 1 : 0);
  }

  get trackedClients(): number {
    return this.clients.size;
  }

  /**
   * Counts one bad-signature request and says how to answer it. Resolves once the first of an interval is durably
   * recorded, as before; a commit failure rejects (the webhook answers 503) and the request is then counted instead.
   */
  async refuse(r: ForgedRequest): Promise<ForgedAnswer> {
    const now = this.opts.clock.now();
    const { limit, intervalMs } = this.opts;
    const tracked = this.runs.has(r.runId) || this.trackedRuns < this.maxRuns;
    const key = this.closed || !tracked ? OVERFLOW : r.runId;
    let run = this.runs.get(key);
    const first = run === undefined;
    if (!run) {
      run = {
        start: now,
        timer: null,
        seen: 0,
        recordedFirst: false,
        callbacks: 0,
        heartbeats: 0,
        limited: 0,
        last: { type: r.type, attemptId: r.attemptId, status: 401 },
      };
      this.runs.set(key, run);
      const w = run;
      if (!this.closed) w.timer = this.opts.clock.setTimer(() => this.flush(key, w), intervalMs);
    }
    const client = this.clientWindow(r.client, now);
    run.seen++;
    client.seen++;
    const runOver = run.seen > limit;
    const clientOver = client.seen > limit;
    if (runOver || clientOver) {
      this.count(run, r, 429);
      run.limited++;
      const ends = [runOver ? run.start + intervalMs : 0, clientOver ? client.start + intervalMs : 0];
      const retryAfterSeconds = Math.max(1, Math.ceil((Math.max(...ends) - now) / 1000));
      const message = `Too many callbacks with a bad signature (more than ${limit} in ${formatSeconds(intervalMs / 1000)} ${
        runOver ? 'for this run' : 'from this address'
      }); retry after ${retryAfterSeconds} s.`;
      return { status: 429, retryAfterSeconds, message };
    }
    if (first && key !== OVERFLOW) {
      run.recordedFirst = true;
      try {
        await this.opts.record(r.runId, {
          type: r.type,
          attemptId: r.attemptId,
          verdict: 'unauthorized',
          httpStatus: 401,
          detail: r.detail,
          source: 'callback',
        });
      } catch (e) {
        // Not recorded (storage unavailable): the summary will count it instead.
        run.recordedFirst = false;
        this.count(run, r, 401);
        throw e;
      }
      return { status: 401 };
    }
    this.count(run, r, 401);
    return { status: 401 };
  }

  /** Records every pending summary now (a clean shutdown) and waits for them; later requests are only counted. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [key, w] of [...this.runs]) {
      this.opts.clock.clearTimer(w.timer);
      this.flush(key, w);
    }
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private count(w: RunWindow, r: ForgedRequest, status: 401 | 429): void {
    if (r.type === 'heartbeat.received') w.heartbeats++;
    else w.callbacks++;
    w.last = { type: r.type, attemptId: r.attemptId, status };
  }

  /** Fixed windows per address, started by its first request; expired ones are swept when the map is full. */
  private clientWindow(client: string, now: number): ClientWindow {
    const { intervalMs } = this.opts;
    const live = (w: ClientWindow): boolean => now < w.start + intervalMs;
    const known = this.clients.get(client);
    if (known) {
      if (!live(known)) {
        known.start = now;
        known.seen = 0;
      }
      return known;
    }
    if (this.clients.size >= this.maxClients && now - this.lastClientSweep >= intervalMs) {
      // At most once per interval, so a full map of live addresses does not cost a sweep per request.
      this.lastClientSweep = now;
      for (const [k, w] of this.clients) if (!live(w)) this.clients.delete(k);
    }
    if (this.clients.size < this.maxClients) {
      const w = { start: now, seen: 0 };
      this.clients.set(client, w);
      return w;
    }
    if (!this.overflowClients || !live(this.overflowClients)) this.overflowClients = { start: now, seen: 0 };
    return this.overflowClients;
  }

  /** The interval of `key` ended (or the server is closing): one summary entry for what was only counted. */
  private flush(key: string, w: RunWindow): void {
    if (this.runs.get(key) === w) this.runs.delete(key);
    const n = w.callbacks + w.heartbeats;
    if (n === 0) return;
    const one = n === 1;
    const noun =
      w.heartbeats === 0 ? (one ? 'callback' : 'callbacks') : w.callbacks === 0 ? (one ? 'heartbeat' : 'heartbeats') : 'callbacks and heartbeats';
    const what = `${n} ${w.recordedFirst ? 'more ' : ''}${noun}`;
    const elapsed = formatSeconds(Math.max(0, this.opts.clock.now() - w.start) / 1000);
    const refused = w.limited ? ` (${w.limited} of them refused with 429 rate_limited)` : '';
    if (key === OVERFLOW) {
      this.opts.logger.warn(
        { count: n, limited: w.limited },
        `${what} with a bad signature in the last ${elapsed}${refused} to runs beyond the ${this.maxRuns} tracked at once; not recorded on their runs`,
      );
      return;
    }
    const detail = `${what} with a bad signature in the last ${elapsed}${refused}; the last from attempt ${w.last.attemptId}.`;
    const p: Promise<void> = this.opts
      .record(key, { type: w.last.type, attemptId: w.last.attemptId, verdict: 'unauthorized', httpStatus: w.last.status, detail, source: 'callback' })
      .then(
        () => undefined,
        (e: unknown) => this.opts.logger.warn({ runId: key, err: (e as Error)?.message ?? String(e) }, 'could not record the bad-signature summary'),
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }
}
