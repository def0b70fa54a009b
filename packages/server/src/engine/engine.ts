/**
 * The engine shell. The pure core (core/step.ts) decides; the shell, for each event: takes the run's lock → loads its
 * committed document → core step → commits the result (snapshot, timers, outbox and log entry in one record) → only
 * then executes its effects (timers synced, triggers sent or abandoned) and notifies subscribers. Effects are
 * at-least-once (Idempotency-Key = attempt id); transitions are exactly-once.
 *
 * Everything around a run goes through a port (ports.ts) — RunLock, Scheduler, OutboxDispatcher, Notifier, ReadModel —
 * with today's single-process implementations (local/, mailbox.ts, timer-service.ts). Recovery is in recovery.ts.
 */
import { randomBytes } from 'node:crypto';
import {
  isFinalRunStatus,
  toRun,
  toRunSummary,
  type CallbackPayload,
  type CallbackResult,
  type ResolvedRunConfig,
  type Run,
  type RunEvent,
  type RunEventEntry,
  type RunSummary,
  type TimerEvent,
  type Verdict,
} from '@tether/machine';
import {
  applyEvent,
  callbackStep,
  createRun,
  heartbeatStep,
  hydrate,
  recordEntry,
  type EventSourceName,
  type LogPolicy,
  type StepResult,
} from '../core/step.ts';
import { newRunId } from '../core/ids.ts';
import {
  NOTIFY_DEFAULTS,
  recordDelivery,
  redeliver,
  summaryOf,
  wireNotification,
  withNotificationOnFinal,
  type NotifyPolicy,
} from '../core/notify.ts';
import { NotificationDispatcher } from './local/notification-dispatcher.ts';
import { lifecycleOf, type LifecycleEvent } from '../core/lifecycle.ts';
import { resendable } from '../core/outbox.ts';
import { RunTooLargeError, type OutboxEntry, type RunDoc } from '../store/types.ts';
import { IdempotencyKeyTakenError, VersionConflictError, type DueTimer, type RunStore } from '../store/contract.ts';
import { MemoryReadModel } from '../store/memory-read-model.ts';
import { systemClock, type Clock } from './clock.ts';
import { RunDocuments } from './documents.ts';
import { CommitError, IdempotencyKeyReusedError, RunDamagedError, type DamagedRunInfo } from './errors.ts';
import { LocalNotifier } from './local/notifier.ts';
import { LocalOutboxDispatcher } from './local/outbox-dispatcher.ts';
import { UndiciHttpClient, type HttpClient } from './http-client.ts';
import { Mailboxes } from './mailbox.ts';
import type { EngineObserver, ListQuery, Notifier, OutboxDispatcher, ReadModel, RunLock, RunPage, RunUpdate, Scheduler } from './ports.ts';
import { Recovery } from './recovery.ts';
import type { Signer } from './signer.ts';
import { TimerService, type TimerEntry } from './timer-service.ts';
import type { TriggerOutcome } from './trigger.ts';
import { TurnBudget, type Release } from './turn-budget.ts';

export { CommitError, IdempotencyKeyReusedError, RunDamagedError, type DamagedRunInfo } from './errors.ts';
export { newRunId } from '../core/ids.ts';
export type { RunUpdate } from './ports.ts';
export type { EventSourceName, MachineEvent } from '../core/step.ts';

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface EngineOptions {
  store: RunStore;
  signer: Signer;
  clock?: Clock;
  logger?: EngineLogger;
  /** Outbound HTTP (triggers and completion webhooks); default: an undici keep-alive Agent, closed with the engine. */
  http?: HttpClient;
  /** Longest event log kept per run for rejected events (a late-callback flood must not grow a run without bound). */
  maxRejectedPerRun?: number;
  /** Load and record recovery, but arm no timer and send no trigger until `resume()` (a server resumes once it listens). */
  paused?: boolean;
  /** Run documents kept in memory (most recently used); the others are read from disk when an event arrives. @default 1000 */
  docCacheSize?: number;
  /** CPU a burst of steps may take in one event-loop turn before the rest wait for the next, ms. @default 4 */
  turnBudgetMs?: number;
  /** Recovery markers committed at once after a restart; the rest wait their turn (or their run's next event). @default 32 */
  recoveryConcurrency?: number;
  /**
   * Largest run document (JSON bytes) a request may grow a run to: a callback, heartbeat or operator action beyond it is
   * refused (413) and recorded, the run unchanged. The engine's own events (timers, trigger outcomes) are not refused —
   * they are small and their number is bounded by the run's attempts — so a run at the cap still times out and ends.
   * @default 8 MiB
   */
  maxRunBytes?: number;
  /**
   * The store is shared with other nodes (PostgreSQL): a cached document may be stale, so reads go to the store, a
   * commit refused for its version starts the step again from the store's document, a run unknown here is looked up
   * there, and start-up arms nothing (each node fires the timers it committed; cluster.ts takes over a dead node's).
   */
  shared?: boolean;
  /**
   * Where the run lifecycle lines go (one per transition that matters: created, triggered, callback accepted or refused,
   * attempt ended, retry scheduled, finished), at the level TETHER_LIFECYCLE_LOG_LEVEL says. Default: the logger's info.
   */
  lifecycleLog?: (obj: object, msg: string) => void;
  /** The completion webhook's tries and backoff (TETHER_NOTIFY_*). */
  notify?: Partial<NotifyPolicy> & { timeoutMs?: number };
  /** This node's name in log entries it writes for other nodes' work (TETHER_NODE_ID). @default "this node" */
  nodeId?: string;
}

/** Times a step is tried again after another node committed its run first (each try reads the run afresh). */
const CONFLICT_RETRIES = 8;

export interface Applied {
  accepted: boolean;
  run: Run;
  entry: RunEventEntry;
}

/** The webhook's verdicts the engine itself gives (unauthorized and rate_limited are the route's). */
export type CallbackVerdict = Extract<CallbackResult['result'], 'accepted' | 'duplicate' | 'conflict' | 'late' | 'not_found' | 'invalid'>;

/** What the webhook answers: the wire `CallbackResult` plus the HTTP status to send it with. */
export type CallbackOutcome = CallbackResult & { result: CallbackVerdict; httpStatus: 200 | 404 | 409 | 410 | 413; message: string };

const silentLogger: EngineLogger = { info() {}, warn() {}, error() {} };
const iso = (ms: number) => new Date(ms).toISOString();
const errText = (e: unknown) => (e as Error)?.message ?? String(e);

export class Engine {
  readonly bootId = randomBytes(6).toString('base64url');
  readonly startedAt: number;
  private readonly store: RunStore;
  private readonly signer: Signer;
  private readonly clock: Clock;
  private readonly log: EngineLogger;
  private readonly policy: LogPolicy;
  private readonly maxRunBytes: number;
  private readonly lock: RunLock = new Mailboxes();
  private readonly scheduler: Scheduler & { timersOf(runId: string): TimerEntry[] };
  private readonly dispatcher: OutboxDispatcher;
  private readonly notifier: Notifier;
  private readModel: ReadModel = new MemoryReadModel();
  private readonly docs: RunDocuments;
  private readonly recovery: Recovery;
  private readonly turns: TurnBudget;
  /** The turn token of the step running now, if it has not handed it on yet. */
  private heldTurn: Release | null = null;
  private readonly background = new Set<Promise<void>>();
  private stopping = false;
  private resumed = false;
  private readonly shared: boolean;
  private readonly nodeName: string;
  /** Told of every commit this node makes (cluster.ts: the coalesced notification to the other nodes). */
  private committedHook: ((runId: string, version: number) => void) | null = null;
  /** Told of every run this node deletes (the stream's watchers): the Notifier's updates are of commits only. */
  private readonly deletedListeners = new Set<(runId: string) => void>();
  /** Timers taken over from another node (cluster.ts): whose they were, for the log entry of their firing. */
  private readonly takenOver = new Map<string, string>();
  private readonly notifyPolicy: NotifyPolicy;
  private readonly observers: EngineObserver[] = [];
  /** The store refused the last commit (and none succeeded since): readiness says so. */
  private commitFailing: { since: number; message: string } | null = null;
  private readonly lifecycleLog: (obj: object, msg: string) => void;
  private readonly notifications: NotificationDispatcher;
  private readonly http: HttpClient;
  /** Only an HTTP client the engine made is closed by it. */
  private readonly ownsHttp: boolean;

  private constructor(opts: EngineOptions) {
    this.store = opts.store;
    this.signer = opts.signer;
    this.ownsHttp = !opts.http;
    this.http = opts.http ?? new UndiciHttpClient();
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.policy = { maxRejected: opts.maxRejectedPerRun ?? 1000 };
    this.maxRunBytes = opts.maxRunBytes ?? 8 * 1024 * 1024;
    this.startedAt = this.clock.now();
    this.shared = opts.shared ?? false;
    this.nodeName = opts.nodeId ? `node ${opts.nodeId}` : 'this node';
    this.notifyPolicy = { ...NOTIFY_DEFAULTS, ...opts.notify };
    this.lifecycleLog = opts.lifecycleLog ?? ((obj, msg) => this.log.info(obj, msg));
    this.notifications = new NotificationDispatcher({
      clock: this.clock,
      signer: this.signer,
      http: this.http,
      timeoutMs: opts.notify?.timeoutMs ?? 10_000,
      load: (runId) => this.getDoc(runId),
      view: (doc) => this.view(doc),
      record: (runId, attempts, outcome) =>
        this.withRun(runId, async (doc) => {
          // Another try (a re-deliver, another node) moved it on meanwhile: this outcome no longer decides anything.
          if (!doc?.notification || doc.notification.state !== 'pending' || doc.notification.attempts !== attempts) return;
          await this.commit(doc, recordDelivery(doc, outcome, this.clock.now(), this.policy, this.notifyPolicy));
          for (const o of this.observers) o.notificationTried?.(outcome.ok);
        }),
      log: this.log,
    });
    this.turns = new TurnBudget(opts.turnBudgetMs ?? 4);
    this.docs = new RunDocuments(
      this.store,
      opts.docCacheSize ?? 1000,
      () => this.clock.now(),
      (d) =>
        this.log.error(
          { runId: d.runId, file: d.file, reason: d.reason },
          'run damaged: quarantined until its file is repaired and Tether restarted',
        ),
    );
    // Held until resume(): recovery arms every timer here at once, and nothing fires before the server listens.
    this.scheduler = new TimerService(this.clock, (entry, firedAt) => this.onTimer(entry, firedAt), { paused: true, logger: this.log });
    this.dispatcher = new LocalOutboxDispatcher(this.http, this.signer);
    this.notifier = new LocalNotifier((e) => this.log.warn({ err: errText(e) }, 'subscriber threw'));
    this.recovery = new Recovery({
      concurrency: Math.max(1, opts.recoveryConcurrency ?? 32),
      touch: (runId) => this.withRun(runId, async () => undefined),
      track: (p) => this.track(p, '-', 'recovery drain failed'),
      stopping: () => this.stopping,
      log: this.log,
    });
  }

  /** Loads the store, re-arms every timer at its original dueAt, re-sends pending triggers. */
  static async start(opts: EngineOptions): Promise<Engine> {
    const engine = new Engine(opts);
    await engine.recover();
    if (!opts.paused) engine.resume();
    return engine;
  }

  /** Starts the timers recovery armed (overdue ones fire at once, in due order), then re-sends recovered triggers. */
  resume(): void {
    if (this.resumed) return;
    this.resumed = true;
    this.scheduler.start();
    // Completion webhooks still pending (a crash came between the final commit and the delivery, or tries remain):
    // each read when its try comes. Shared store: the cluster claims them instead (several nodes would all try).
    if (!this.shared) for (const s of this.readModel.all()) if (s.notification === 'pending') this.notifications.schedule(s.id, 0);
    // Only entries of attempts still open whose timer was not overdue at the restart: that timer fires at once and ends
    // the attempt. Read inside the lock: a commit made while paused (an early callback) may have changed the run.
    const at = this.recovery.at;
    for (const runId of this.recovery.takeOutboxRuns()) {
      this.track(
        this.withRun(runId, async (doc) => {
          if (doc) for (const o of doc.outbox) if (resendable(doc, o, at)) this.send(doc, o);
        }),
        runId,
        'could not re-send recovered triggers',
      );
    }
  }

  // ───────────────────────────── reading ─────────────────────────────

  get activeCount(): number {
    return this.readModel.openCount;
  }
  /** Timers armed (none before resume()). */
  get timerCount(): number {
    return this.resumed ? this.scheduler.size : 0;
  }
  get runCount(): number {
    return this.readModel.count;
  }

  view(doc: RunDoc): Run {
    const run = toRun(doc.snapshot, { rerunOf: doc.rerunOf }, this.signer.urlsFor);
    return doc.notification ? { ...run, notification: wireNotification(doc.notification) } : run;
  }

  /** The committed document; null if the run does not exist; RunDamagedError if it cannot be read. */
  async getDoc(runId: string): Promise<RunDoc | null> {
    if (this.shared) return this.store.get(runId);
    return this.known(runId) ? this.docs.peek(runId) : null;
  }

  async getRun(runId: string): Promise<Run | null> {
    const doc = await this.getDoc(runId);
    return doc ? this.view(doc) : null;
  }

  async getEvents(runId: string): Promise<RunEventEntry[] | null> {
    return (await this.getDoc(runId))?.events ?? null;
  }

  getSummary(runId: string): RunSummary | undefined {
    return this.readModel.get(runId);
  }

  listRuns(q: ListQuery = {}): RunPage {
    // Derived states (overdue) are decided on the engine's clock, as every other time here.
    return this.readModel.list(q.derived && q.now === undefined ? { ...q, now: this.clock.now() } : q);
  }

  allSummaries(): RunSummary[] {
    return this.readModel.all();
  }

  subscribe(fn: (u: RunUpdate) => void): () => void {
    return this.notifier.subscribe(fn);
  }

  /**
   * Calls `fn` after each run this node deletes (DELETE /api/runs/:id, retention); returns the unsubscribe. Not told
   * of deletions made by other nodes of a cluster.
   */
  onRunDeleted(fn: (runId: string) => void): () => void {
    this.deletedListeners.add(fn);
    return () => void this.deletedListeners.delete(fn);
  }

  /** Quarantined runs: listed in /healthz. */
  damagedRuns(): DamagedRunInfo[] {
    return this.docs.damagedRuns();
  }

  private known(runId: string): boolean {
    return this.readModel.get(runId) !== undefined || this.docs.isDamaged(runId);
  }

  // ───────────────────────────── writing ─────────────────────────────

  /** Creates a run and starts it: creation and `run.start` are one commit. */
  async createRun(config: ResolvedRunConfig, opts: { rerunOf?: string | null; idempotency?: RunDoc['idempotency'] } = {}): Promise<Run> {
    this.assertRunning();
    const at = this.clock.now();
    const id = newRunId(at);
    return this.lock.run(id, () =>
      this.withTurn(async () => {
        const result = createRun(id, config, at, opts.rerunOf ?? null, this.policy, opts.idempotency);
        // Before its first commit the run has no timers: the commit arms what run.start armed.
        await this.commit({ ...result.doc, timers: [] }, result, { creating: true });
        return this.view(result.doc);
      }),
    );
  }

  /**
   * Creates a run once per Idempotency-Key: the first request with `key` creates it; a repeat with the same
   * fingerprint (the same request) answers that run (`replayed`), creating nothing; another request with the key is
   * refused (IdempotencyKeyReusedError). Serialised per key on this node; across nodes the store's unique key decides.
   */
  async createRunOnce(
    config: ResolvedRunConfig,
    opts: { rerunOf?: string | null; idempotency: { key: string; fingerprint: string } },
  ): Promise<{ run: Run; replayed: boolean }> {
    this.assertRunning();
    const { key, fingerprint } = opts.idempotency;
    const replay = async (runId: string) => {
      const doc = await this.getDoc(runId);
      if (!doc) throw new Error(`Run ${runId} of Idempotency-Key ${JSON.stringify(key)} is listed but cannot be read.`);
      if (doc.idempotency?.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key, runId);
      return { run: this.view(doc), replayed: true };
    };
    return this.lock.run(`idempotency:${key}`, async () => {
      const existing = this.readModel.byIdempotencyKey(key) ?? (this.shared ? await this.store.findByIdempotencyKey(key) : null);
      if (existing) return replay(existing);
      try {
        return { run: await this.createRun(config, { rerunOf: opts.rerunOf ?? null, idempotency: opts.idempotency }), replayed: false };
      } catch (e) {
        // Another node created a run with this key a moment ago.
        const taken = e instanceof CommitError && e.cause instanceof IdempotencyKeyTakenError;
        const found = taken ? await this.store.findByIdempotencyKey(key) : null;
        if (found) return replay(found);
        throw e;
      }
    });
  }

  /**
   * Deletes a final run from the store (its document, log, timers, outbox) and from memory. `null`: no such run;
   * `'active'`: not final (refused, nothing deleted).
   */
  async deleteRun(runId: string): Promise<'deleted' | 'active' | null> {
    this.assertRunning();
    return this.withRun(runId, async (doc) => {
      if (!doc) return null;
      if (!isFinalRunStatus(toRunSummary(doc.snapshot).status)) return 'active';
      try {
        await this.store.delete(doc.id, doc.version ?? 0);
      } catch (e) {
        if (e instanceof VersionConflictError) throw new CommitError(doc.id, e); // another node moved it: withRun retries
        this.log.error({ runId, err: errText(e) }, 'delete failed');
        throw new CommitError(doc.id, e);
      }
      this.docs.forget(runId);
      this.committedHook?.(runId, 0);
      for (const fn of this.deletedListeners) {
        try {
          fn(runId);
        } catch (e) {
          this.log.warn({ err: errText(e) }, 'subscriber threw');
        }
      }
      return 'deleted';
    });
  }

  /**
   * Retention: deletes final runs that finished before `cutoff` (epoch ms), a few at a time, logging progress every
   * 1,000. Returns how many went. Safe to interrupt (a crash mid-sweep leaves each run either deleted or whole; the
   * next sweep goes on).
   */
  async sweepFinishedBefore(cutoff: number): Promise<number> {
    const expired = this.readModel
      .all()
      .filter((s) => isFinalRunStatus(s.status) && s.finishedAt !== null && Date.parse(s.finishedAt) < cutoff)
      .map((s) => s.id);
    if (!expired.length) return 0;
    this.log.info({ runs: expired.length, before: iso(cutoff) }, 'retention: deleting final runs');
    let done = 0;
    for (const id of expired) {
      if (this.stopping) break;
      const r = await this.deleteRun(id).catch((e: unknown) => {
        this.log.warn({ runId: id, err: errText(e) }, 'retention: could not delete a run; the next sweep tries again');
        return null;
      });
      if (r === 'deleted' && ++done % 1000 === 0) this.log.info({ deleted: done, of: expired.length }, 'retention: progress');
    }
    this.log.info({ deleted: done, of: expired.length }, 'retention: sweep done');
    return done;
  }

  /**
   * Delivers the run's completion webhook again (the dashboard's "re-deliver"): null if the run does not exist, false if
   * it has no webhook or is not final yet.
   */
  async redeliverNotification(runId: string): Promise<Run | false | null> {
    this.assertRunning();
    return this.withRun(runId, async (doc) => {
      if (!doc) return null;
      if (!doc.snapshot.context.config.notify || !doc.notification) return false;
      const result = redeliver(doc, this.clock.now(), this.policy);
      await this.commit(doc, result);
      return this.view(result.doc);
    });
  }

  /** Applies one event to a run (operator and API actions); a rejected one is still recorded. Null if the run does not exist. */
  async dispatch(runId: string, event: RunEvent, meta: { source: EventSourceName; detail?: string; httpStatus?: number }): Promise<Applied | null> {
    this.assertRunning();
    return this.withRun(runId, async (doc) => {
      if (!doc) return null;
      const result = applyEvent(doc, hydrate(doc.snapshot), event, meta, this.policy);
      await this.commit(doc, result, { limited: true });
      return { accepted: result.accepted, entry: result.entry, run: this.view(result.doc) };
    });
  }

  /** A callback: applied, or answered duplicate / conflict / late / not found — recorded either way, durable before it resolves. */
  async callback(runId: string, attemptId: string, payload: CallbackPayload, source: EventSourceName = 'callback'): Promise<CallbackOutcome> {
    this.assertRunning();
    return this.withRun(runId, async (doc) => {
      if (!doc) return { result: 'not_found', httpStatus: 404, message: `Run ${runId} does not exist.` };
      const { verdict, step } = callbackStep(doc, { type: 'callback.received', attemptId, ...payload, at: this.clock.now() }, source, this.policy);
      return (await this.commitVerdict(doc, step, attemptId)) ?? this.answer(verdict, attemptId);
    });
  }

  /** A heartbeat: extends the current attempt's heartbeat deadline and records progress; late ones are 410. */
  async heartbeat(runId: string, attemptId: string, progress: unknown, source: EventSourceName = 'callback'): Promise<CallbackOutcome> {
    this.assertRunning();
    return this.withRun(runId, async (doc) => {
      if (!doc) return { result: 'not_found', httpStatus: 404, message: `Run ${runId} does not exist.` };
      const at = this.clock.now();
      const event =
        progress === undefined
          ? { type: 'heartbeat.received' as const, attemptId, at }
          : { type: 'heartbeat.received' as const, attemptId, progress, at };
      const { verdict, step } = heartbeatStep(doc, event, source, this.policy);
      return (await this.commitVerdict(doc, step, attemptId)) ?? this.answer(verdict, attemptId);
    });
  }

  /** Records a request that never reached the machine (bad signature…) on the run it names, if that run exists. */
  async recordRejected(
    runId: string,
    entry: { type: string; attemptId?: string; verdict: RunEventEntry['verdict']; httpStatus: number; detail: string; source: EventSourceName },
  ): Promise<boolean> {
    if (this.stopping) return false;
    return this.withRun(runId, async (doc) => {
      if (!doc) return false;
      await this.commit(doc, recordEntry(doc, { ...entry, at: this.clock.now() }, this.policy));
      return true;
    });
  }

  /** The webhook's answer for a verdict: the attempt's state and end with a refusal, so the sender knows what happened. */
  private answer(v: Verdict, attemptId: string): CallbackOutcome {
    if (v.result === 'not_found' || v.result === 'accepted') return { result: v.result, httpStatus: v.httpStatus, attemptId, message: v.message };
    const endedAt = v.attempt.endedAt === null ? null : iso(v.attempt.endedAt);
    return { result: v.result, httpStatus: v.httpStatus, attemptId, attemptState: v.attempt.state, endedAt, message: v.message };
  }

  /**
   * Commits a callback's or heartbeat's step. An accepted one that would grow the run past maxRunBytes is refused
   * instead: recorded as a small rejected entry (folded like any other once there are many), answered 413.
   */
  private async commitVerdict(doc: RunDoc, step: StepResult, attemptId: string): Promise<CallbackOutcome | null> {
    try {
      await this.commit(doc, step, { limited: true });
      return null;
    } catch (e) {
      if (!(e instanceof RunTooLargeError)) throw e;
      const type = step.entry.type;
      await this.commit(
        doc,
        recordEntry(
          doc,
          { type, at: this.clock.now(), attemptId, verdict: 'invalid', httpStatus: 413, detail: e.message, source: 'callback' },
          this.policy,
        ),
      );
      return { result: 'invalid', httpStatus: 413, attemptId, message: e.message };
    }
  }

  // ───────────────────────────── the commit path ─────────────────────────────

  /**
   * Runs `task` under the run's lock with its committed document (null if the run does not exist). A recovery marker
   * still pending for the run is committed first, so the log always shows the restart before anything after it.
   */
  private withRun<T>(runId: string, task: (doc: RunDoc | null) => Promise<T>): Promise<T> {
    return this.lock.run(runId, async () => {
      for (let tries = 1; ; tries++) {
        try {
          // The read is I/O and is done before the turn token is taken: reads of different runs overlap (on a database
          // each is a round trip; under the token they would queue one behind the other). The run's lock is held.
          const doc = await this.load(runId);
          return await this.withTurn(() => this.underLock(runId, doc, task));
        } catch (e) {
          // Another node committed the run since this one read it: nothing was written; decide again from what it made.
          if (!(e instanceof CommitError && e.cause instanceof VersionConflictError) || tries >= CONFLICT_RETRIES) throw e;
          this.docs.forget(runId);
        }
      }
    });
  }

  /** The run's committed document for a step under its lock; null if it does not exist. */
  private async load(runId: string): Promise<RunDoc | null> {
    // Shared: a run another node created may not have reached this node's read model yet.
    if (!this.known(runId) && !(this.shared && (await this.store.exists(runId)))) return null;
    return this.docs.load(runId);
  }

  private async underLock<T>(runId: string, loaded: RunDoc | null, task: (doc: RunDoc | null) => Promise<T>): Promise<T> {
    if (!loaded) return task(null);
    let doc = loaded;
    const marker = this.recovery.markerFor(doc);
    if (marker) {
      const result = recordEntry(doc, marker.entry, this.policy, marker.resent);
      await this.commit(doc, result);
      this.recovery.recorded(runId);
      doc = result.doc;
    }
    return task(doc);
  }

  /** A step's CPU part runs under the turn budget (turn-budget.ts): the token is handed on once its commit is with the store. */
  private async withTurn<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.turns.acquire();
    this.heldTurn = release;
    try {
      return await fn();
    } finally {
      if (this.heldTurn === release) this.heldTurn = null;
      release();
    }
  }

  /**
   * Commits `result` (made from `prev`), then executes its effects and notifies. `limited`: an accepted request event,
   * refused beyond maxRunBytes. If the commit fails nothing after it happens, and the next event starts from `prev`.
   */
  private async commit(prev: RunDoc, stepped: StepResult, opts: { creating?: boolean; limited?: boolean } = {}): Promise<void> {
    // The step that makes a run with `notify` final makes its webhook pending in the same commit.
    const result = withNotificationOnFinal(prev, stepped, this.clock.now());
    const doc = result.doc;
    const summary = summaryOf(doc);
    const prevStatus = opts.creating ? null : (this.readModel.get(doc.id)?.status ?? null);
    const t0 = performance.now();
    const change = {
      doc,
      summary,
      // A new run's commit brings its whole log; any other one entry, appended or replacing the last.
      appended: opts.creating ? doc.events : [result.entry],
      replacedLast: result.replacedLast,
      timers: doc.timers,
      outbox: doc.outbox,
    };
    try {
      const landed = this.store.commit(
        doc.id,
        (doc.version ?? 1) - 1,
        change,
        opts.limited && result.accepted ? { maxBytes: this.maxRunBytes } : undefined,
      );
      // The CPU part of this step is done; the next run's step may start while the journal writes this one.
      const release = this.heldTurn;
      this.heldTurn = null;
      release?.();
      await landed;
    } catch (e) {
      if (e instanceof RunTooLargeError) throw e; // refused before anything was written: nothing to undo
      // Another node's commit came first (withRun retries), or took this run's Idempotency-Key (createRunOnce answers it).
      if (e instanceof VersionConflictError || e instanceof IdempotencyKeyTakenError) throw new CommitError(doc.id, e);
      this.log.error({ runId: doc.id, err: errText(e) }, 'commit failed');
      this.commitFailing ??= { since: this.clock.now(), message: errText(e) };
      if (!opts.creating) this.docs.pin(prev);
      throw new CommitError(doc.id, e);
    }
    this.docs.committed(doc);
    this.commitFailing = null;
    this.committedHook?.(doc.id, doc.version ?? 0);
    const seconds = (performance.now() - t0) / 1000;
    for (const o of this.observers) o.committed?.(seconds);
    for (const e of lifecycleOf(opts.creating ? null : prev, prevStatus, doc, summary, result.entry)) this.tellLifecycle(e);

    const withRun = (t: RunDoc['timers'][number]): TimerEntry => ({ ...t, runId: doc.id });
    this.scheduler.sync(doc.id, prev.timers.map(withRun), doc.timers.map(withRun));
    for (const o of result.abandon) this.dispatcher.abort(o.id, 'attempt ended');
    for (const o of result.send) this.send(doc, o);
    if (doc.notification?.state === 'pending' && this.resumed && !this.stopping) this.notifications.schedule(doc.id, doc.notification.nextAt ?? 0);
    if (this.notifier.listening) {
      let run: Run | undefined;
      const view = () => (run ??= this.view(doc));
      this.notifier.publish({
        get run() {
          return view();
        },
        summary,
        events: [result.entry],
        doc,
      });
    }
  }

  // ───────────────────────────── effects ─────────────────────────────

  private onTimer(entry: TimerEntry, firedAt: number): void {
    if (this.stopping) return;
    void this.withRun(entry.runId, async (doc) => {
      // Cancelled, or moved later, between firing and now: the committed timers decide. Compared with the firing time
      // rather than the armed dueAt, because a retry after a failed commit is armed later than the committed one.
      const committed = doc?.timers.find((t) => t.key === entry.key);
      if (!doc || !committed || committed.dueAt > firedAt) return;
      const from = this.takenOver.get(`${entry.runId}/${entry.key}`);
      this.takenOver.delete(`${entry.runId}/${entry.key}`);
      const late = `Timer due ${iso(committed.dueAt)} fired ${firedAt - committed.dueAt} ms late`;
      const detail = from ? `${late}, by ${this.nodeName} after node ${from}'s claim expired.` : `${late}.`;
      for (const o of this.observers) o.timerFired?.(firedAt - committed.dueAt);
      await this.commit(
        doc,
        applyEvent(
          doc,
          hydrate(doc.snapshot),
          { type: committed.eventType as TimerEvent['type'], at: firedAt },
          { source: 'timer', detail },
          this.policy,
        ),
      );
    }).catch((e) => {
      // A damaged run waits for its file to be repaired and a restart (which re-arms its timers from the file).
      if (e instanceof RunDamagedError) return;
      // The commit failed (disk full?): nothing changed; try again shortly so the timer is not lost.
      this.log.error({ runId: entry.runId, err: errText(e) }, 'timer commit failed; retrying in 1 s');
      if (!this.stopping) this.scheduler.arm({ ...entry, dueAt: Math.max(entry.dueAt, this.clock.now()) + 1000 });
    });
  }

  /** Sends one outbox entry of `doc` (the run's committed document, for its config). */
  private send(doc: RunDoc, o: OutboxEntry): void {
    if (this.stopping) return;
    // A run that finished meanwhile (cancelled while a re-send waited) is not triggered again.
    const summary = this.readModel.get(doc.id);
    if (!summary || isFinalRunStatus(summary.status)) return;
    const started = performance.now();
    this.dispatcher.send(doc, o, (outcome) => {
      const seconds = (performance.now() - started) / 1000;
      for (const ob of this.observers) ob.triggerSettled?.(outcome.ok, seconds);
      return this.onTriggerOutcome(doc.id, o, outcome);
    });
  }

  private async onTriggerOutcome(runId: string, o: OutboxEntry, outcome: TriggerOutcome): Promise<void> {
    if (this.stopping) return; // Not committed: the outbox still holds it; the next start re-sends it.
    const at = this.clock.now();
    const event: RunEvent = outcome.ok
      ? { type: 'trigger.succeeded', attemptId: o.attemptId, at }
      : { type: 'trigger.failed', attemptId: o.attemptId, message: outcome.message, at };
    try {
      await this.withRun(runId, async (doc) => {
        // The entry is gone when its attempt ended meanwhile (an early callback, its timeout, a cancel): that commit
        // abandoned this request, and an outcome for an attempt that is over has nothing left to decide.
        if (!doc || !doc.outbox.some((x) => x.id === o.id)) return;
        await this.commit(
          doc,
          applyEvent(doc, hydrate(doc.snapshot), event, { source: 'trigger', removeOutbox: o.id, detail: outcome.detail }, this.policy),
        );
      });
    } catch (e) {
      this.log.error({ runId, err: errText(e) }, 'trigger outcome commit failed; re-sending in 1 s');
      // On the engine's clock (not a wall-clock setTimeout), so injected clocks drive this retry like every other timer.
      this.clock.setTimer(() => this.resend(runId, o.id), 1000);
    }
  }

  /** Sends an entry again from the run's committed document, read under its lock: the attempt may have ended since. */
  private resend(runId: string, outboxId: string): void {
    if (this.stopping) return;
    this.withRun(runId, async (doc) => {
      const o = doc?.outbox.find((x) => x.id === outboxId);
      if (doc && o) this.send(doc, o);
    }).catch((e) => {
      this.log.error({ runId, err: errText(e) }, 'could not read the run to re-send its trigger; retrying in 1 s');
      this.clock.setTimer(() => this.resend(runId, outboxId), 1000);
    });
  }

  private track(p: Promise<unknown>, runId: string, what: string): void {
    const settled: Promise<void> = p.then(
      () => undefined,
      (e) => this.log.error({ runId, err: errText(e) }, what),
    );
    this.background.add(settled);
    void settled.finally(() => this.background.delete(settled));
  }

  /** Why this node cannot serve now, or null: not resumed yet (recovery), or the store refusing commits. */
  notReadyReason(): string | null {
    if (!this.resumed) return 'recovery has not finished';
    if (this.stopping) return 'stopping';
    if (this.commitFailing) return `the store refuses commits since ${iso(this.commitFailing.since)}: ${this.commitFailing.message}`;
    return null;
  }

  /** Adds a watcher of what the engine does (metrics). */
  observe(o: EngineObserver): void {
    this.observers.push(o);
  }

  /** One structured line per lifecycle event, and the observers told. Never a signature, token or header value. */
  private tellLifecycle(e: LifecycleEvent): void {
    const { kind, ...fields } = e;
    const words: Record<LifecycleEvent['kind'], string> = {
      'run.created': 'run created',
      'attempt.triggered': 'attempt triggered',
      'trigger.failed': 'trigger failed',
      'callback.accepted': 'callback accepted',
      'callback.refused': 'callback refused',
      'attempt.ended': 'attempt ended',
      'retry.scheduled': 'retry scheduled',
      'run.finished': 'run finished',
    };
    this.lifecycleLog({ event: kind, ...fields }, words[kind]);
    for (const o of this.observers) o.lifecycle?.(e);
  }

  // ───────────────────────────── several nodes (cluster.ts) ─────────────────────────────

  /** Called after every commit this node makes, with the run's new version. */
  onCommitted(fn: ((runId: string, version: number) => void) | null): void {
    this.committedHook = fn;
  }

  /**
   * Another node committed `doc` (this node knew `knownVersion`): the cached copy goes, and subscribers here get the
   * update as if it were local — with the log entries added since, as far as the version gap tells.
   */
  remoteCommitted(doc: RunDoc, knownVersion: number | undefined): void {
    this.docs.forget(doc.id);
    if (!this.notifier.listening) return;
    const added = Math.max(1, Math.min(50, (doc.version ?? 0) - (knownVersion ?? 0)));
    let run: Run | undefined;
    const view = () => (run ??= this.view(doc));
    this.notifier.publish({
      get run() {
        return view();
      },
      summary: summaryOf(doc),
      events: doc.events.slice(-added),
      doc,
    });
  }

  /** Another node committed the run; nobody here listens: only the cached copy goes. */
  remoteChanged(runId: string): void {
    this.docs.forget(runId);
  }

  summaryOf(doc: RunDoc): RunSummary {
    return summaryOf(doc);
  }

  /** Whether anyone here listens to commits (a remote one then needs its document read). */
  get listening(): boolean {
    return this.notifier.listening;
  }

  /** Arms a timer claimed from another node whose claim expired: it fires here (at once when overdue), fenced as any other. */
  takeOverTimer(t: DueTimer, previousOwner: string): void {
    if (this.stopping) return;
    this.takenOver.set(`${t.runId}/${t.key}`, previousOwner);
    this.scheduler.arm({ runId: t.runId, key: t.key, dueAt: t.dueAt, eventType: t.eventType });
  }

  /**
   * Re-sends a trigger whose sender's lease expired (claimed by cluster.ts), with the same Idempotency-Key, after
   * recording it on the run (its `sends` counted): "re-sent by node B after node A's lease expired".
   */
  async takeOverTrigger(runId: string, entryId: string, previousOwner: string): Promise<void> {
    await this.withRun(runId, async (doc) => {
      const o = doc?.outbox.find((x) => x.id === entryId);
      if (!doc || !o || isFinalRunStatus(toRunSummary(doc.snapshot).status)) return;
      const detail = `Trigger of attempt ${o.number} re-sent by ${this.nodeName} after node ${previousOwner}'s lease expired (same Idempotency-Key).`;
      const result = recordEntry(
        doc,
        { type: 'trigger.resent', at: this.clock.now(), attemptId: o.attemptId, verdict: 'recorded', source: 'server', detail },
        this.policy,
        [o.id],
      );
      await this.commit(doc, result);
      const resent = result.doc.outbox.find((x) => x.id === entryId);
      if (resent) this.send(result.doc, resent);
    });
  }

  /** Schedules the pending webhook of a run claimed from another node whose lease on it expired (cluster.ts). */
  takeOverNotification(runId: string): void {
    if (!this.stopping) this.notifications.schedule(runId, 0);
  }

  /** Triggers this node is sending now (cluster.ts renews their leases). */
  inFlightTriggers(): { runId: string; id: string }[] {
    return this.dispatcher.inFlightEntries();
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  private async recover(): Promise<void> {
    const opened = await this.store.open();
    for (const w of opened.warnings) this.log.warn({}, w);
    for (const d of opened.damaged) this.docs.quarantine(d.id, d.file, d.reason);
    this.readModel = opened.readModel;
    const at = this.recovery.begin(this.clock.now());
    if (this.shared) {
      // Other nodes may be alive and firing their timers: this one arms only what it commits, and takes over a dead
      // node's timers and triggers once their claims expire (cluster.ts). No restart marker: no run was "restarted".
      this.log.info({ runs: this.readModel.count, active: this.readModel.openCount }, 'engine started on a shared store');
      return;
    }
    // Every committed timer of every open run, into the paused scheduler at its original dueAt: nothing fires before
    // resume(). The store answers from what it keeps of open runs (the file store: memory; a database: an index).
    const byRun = new Map<string, { attempt: number; timers: RunDoc['timers'] }>();
    for (const t of await this.store.dueTimers(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY)) {
      this.scheduler.arm({ runId: t.runId, key: t.key, dueAt: t.dueAt, eventType: t.eventType });
      const run = byRun.get(t.runId) ?? { attempt: t.attempt, timers: [] };
      run.timers.push({ key: t.key, dueAt: t.dueAt, eventType: t.eventType });
      byRun.set(t.runId, run);
    }
    const withOutbox = new Set((await this.store.outbox(Number.POSITIVE_INFINITY)).map((o) => o.runId));
    for (const runId of withOutbox) if (!byRun.has(runId)) byRun.set(runId, { attempt: this.readModel.get(runId)?.attempt ?? 0, timers: [] });
    // A trigger is re-sent on resume only if its run's timer was not already due (resume checks the document again).
    for (const [runId, { attempt, timers }] of byRun)
      this.recovery.add(runId, timers, attempt, withOutbox.has(runId) && !timers.some((t) => t.dueAt <= at));
    // The markers are committed in the background, a few at a time, so a restart with 100k waiting runs serves at once.
    this.recovery.drain();
    this.log.info({ runs: this.readModel.count, active: byRun.size, timers: this.scheduler.size }, 'engine recovered');
  }

  /** Waits until every queued commit and every trigger in flight has settled (tests and graceful shutdown). */
  async idle(): Promise<void> {
    while (this.lock.pending || this.dispatcher.inFlight || this.background.size || this.notifications.inFlightCount) {
      await Promise.all([this.lock.drain(), ...this.dispatcher.settling(), ...this.background, ...this.notifications.settling()]);
    }
  }

  /** Stop accepting work, finish in-flight commits, abort in-flight triggers (they stay in the outbox). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.scheduler.stop();
    // A webhook in flight is still pending in the store: the next start (or another node) tries it again.
    const webhooks = this.notifications.stop();
    // Triggers in flight stay in the outbox: the next start re-sends them with the same Idempotency-Key.
    this.dispatcher.abortAll('server stopping');
    await Promise.all([this.lock.drain(), ...this.background, webhooks]);
    await this.lock.drain();
    // Every commit is done; a store may leave a checkpoint for a faster next start (the file store does).
    await this.store.close();
    if (this.ownsHttp) await this.http.close();
  }

  private assertRunning(): void {
    if (this.stopping) throw new Error('The engine is stopping.');
  }
}
