/**
 * The durable run engine. XState decides; the engine owns time, effects and storage.
 *
 * For each event, inside the run's mailbox (one at a time per run, runs in parallel):
 *   hydrate → transition() → translate actions (delayed raise → timer at absolute dueAt, cancel → drop timer,
 *   triggerAttempt → outbox entry) → COMMIT snapshot + timers + outbox + log entry in one write
 *   → only then arm timers, send triggers and notify subscribers.
 * Effects are at-least-once (Idempotency-Key = attempt id); transitions are exactly-once.
 *
 * Memory: a waiting run costs its summary (for listing) and its armed timers. Its document (snapshot, config, event
 * log) lives on disk and is read inside the run's mailbox when an event arrives; only the most recently used documents
 * are kept (a bounded cache). A run with no event for hours therefore costs well under a KiB of heap.
 */
import { randomBytes } from 'node:crypto';
import {
  attemptDueAt,
  isFinalRunStatus,
  isOpenAttemptState,
  runMachine,
  toRun,
  toRunSummary,
  type CallbackPayload,
  type CallbackResult,
  type ResolvedRunConfig,
  type Run,
  type RunEvent,
  type RunEventEntry,
  type RunSnapshot,
  type RunSummary,
  type TimerEvent,
  leafState,
} from '@tether/machine';
import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';
import { Mailboxes } from './mailbox.ts';
import { decide, decideInitial } from './decide.ts';
import { DocCache } from './doc-cache.ts';
import type { Signer } from './signer.ts';
import { TimerService, type TimerEntry } from './timer-service.ts';
import { sendTrigger, type TriggerOutcome } from './trigger.ts';
import { TurnBudget, type Release } from './turn-budget.ts';
import { CorruptRunFileError, RunTooLargeError, type OutboxEntry, type PendingRun, type PersistedRunSnapshot, type RunDoc, type RunStore } from '../store/types.ts';

export type EventSourceName = RunEventEntry['source'];
export type MachineEvent = RunEvent | TimerEvent;

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silentLogger: EngineLogger = { info() {}, warn() {}, error() {} };

export interface EngineOptions {
  store: RunStore;
  signer: Signer;
  clock?: Clock;
  logger?: EngineLogger;
  /** Injected for tests of network failures; defaults to global fetch. */
  fetch?: typeof fetch;
  /** Longest event log kept per run for rejected events (a late-callback flood must not grow a run without bound). */
  maxRejectedPerRun?: number;
  /**
   * Load and record recovery, but arm no timer and send no trigger until `resume()`: a server resumes once it
   * listens, so callback URLs carry its real address.
   */
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
}

/** What subscribers receive after every commit. */
export interface RunUpdate {
  /** The committed run view, built on first read (subscribers that do not look at it do not pay for it). */
  readonly run: Run;
  summary: RunSummary;
  events: RunEventEntry[];
  /** The committed document, unredacted (target headers included): server-side observers only, never sent as is. */
  doc: Readonly<RunDoc>;
}

export interface Applied {
  accepted: boolean;
  run: Run;
  entry: RunEventEntry;
}

export type CallbackVerdict = 'accepted' | 'duplicate' | 'conflict' | 'late' | 'not_found' | 'invalid';

/** What the webhook answers: the wire `CallbackResult` plus the HTTP status to send it with. */
export type CallbackOutcome = CallbackResult & {
  result: CallbackVerdict;
  httpStatus: 200 | 404 | 409 | 410 | 413;
  message: string;
};

/** Thrown when a commit cannot be made durable (disk full, read-only…): nothing was acknowledged. */
export class CommitError extends Error {
  constructor(
    readonly runId: string,
    override readonly cause: unknown,
  ) {
    super(`Could not commit run ${runId}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'CommitError';
  }
}

/**
 * A run whose document is missing or does not parse: quarantined. Every request about it is answered with this (coded
 * TETHER_RUN_DAMAGED, naming the file); nothing is committed for it and its file is never rewritten. Repair or restore
 * the file and restart.
 */
export class RunDamagedError extends Error {
  readonly code = 'TETHER_RUN_DAMAGED';
  constructor(
    readonly runId: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`Run ${runId} is damaged: ${file}: ${reason}. Nothing is changed for it until the file is repaired or restored and Tether restarted.`);
    this.name = 'RunDamagedError';
  }
}

export interface DamagedRunInfo {
  runId: string;
  file: string;
  reason: string;
  /** When this process found it, epoch ms. */
  since: number;
}

/** What a restart found for one run; its `server.recovered` entry is written from this when it is committed. */
interface RecoveryMarker {
  /** Restart time: "ms left" is counted from here. */
  at: number;
  timers: RunDoc['timers'];
  attempt: number | undefined;
  outbox: Pick<OutboxEntry, 'id' | 'number'>[];
  /** Entries not re-sent: their attempt is over, or its timer was overdue at the restart (it fires first and ends it). */
  dropped: Pick<OutboxEntry, 'id' | 'number'>[];
}

function recoveryDetail(m: RecoveryMarker): string {
  const parts: string[] = [];
  for (const t of m.timers) {
    const left = t.dueAt - m.at;
    const what = t.key.includes('retryBackoff') ? `backoff timer before attempt ${(m.attempt ?? 0) + 1}` : `attempt ${m.attempt ?? '?'} timer`;
    parts.push(left >= 0 ? `${what} re-armed with ${left} ms left` : `${what} overdue by ${-left} ms; fired at once`);
  }
  for (const o of m.outbox) parts.push(`trigger for attempt ${o.number} re-sent (Idempotency-Key ${o.id})`);
  for (const o of m.dropped) parts.push(`trigger for attempt ${o.number} not re-sent: the attempt is over or its timer was overdue`);
  return parts.length ? `Server restarted; ${parts.join('; ')}.` : 'Server restarted; nothing pending.';
}

/**
 * The outbox entries whose attempt is still open (the run's current attempt, Triggering or AwaitingCallback). An entry
 * lives exactly as long as its attempt: the commit that ends the attempt (timeout, callback, operator, cancel) drops it,
 * so no restart can ever re-send the trigger of an attempt that is over.
 */
export function liveOutbox(snapshot: PersistedRunSnapshot, outbox: readonly OutboxEntry[]): OutboxEntry[] {
  if (!outbox.length) return outbox as OutboxEntry[];
  const attempts = snapshot.context.attempts;
  const current = attempts[attempts.length - 1];
  const open = current && isOpenAttemptState(current.state) && !isFinalRunStatus(toRunSummary(snapshot).status) ? current.id : null;
  const kept = outbox.filter((o) => o.attemptId === open);
  return kept.length === outbox.length ? (outbox as OutboxEntry[]) : kept;
}

/**
 * Whether recovery may re-send `o`: its attempt is open and no committed timer of the run is due by `at` (the restart).
 * An overdue timer is the attempt's own (an attempt has one timer at a time; a backoff timer means no attempt is open),
 * and it ends the attempt when it fires — at once, on resume — so sending first would trigger an attempt that is over.
 */
function resendable(doc: Pick<RunDoc, 'snapshot' | 'timers' | 'outbox'>, o: OutboxEntry, at: number): boolean {
  return liveOutbox(doc.snapshot, [o]).length === 1 && !doc.timers.some((t) => t.dueAt <= at);
}

const hydrate = (s: PersistedRunSnapshot): RunSnapshot =>
  runMachine.resolveState({ value: s.value as RunSnapshot['value'], context: s.context });
const persist = (s: RunSnapshot): PersistedRunSnapshot => runMachine.getPersistedSnapshot(s) as unknown as PersistedRunSnapshot;
const iso = (ms: number) => new Date(ms).toISOString();

/** Time-sortable run ids: `run_` + base36 ms (9 chars) + 8 random base32 chars. */
export function newRunId(now: number): string {
  const rand = randomBytes(5).readUIntBE(0, 5).toString(32).padStart(8, '0');
  return `run_${now.toString(36).padStart(9, '0')}${rand}`;
}

/** JSON with object keys sorted: `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same JSON, whatever a client's map order. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_key, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

function sameCallback(a: CallbackPayload, b: CallbackPayload): boolean {
  return (
    a.success === b.success &&
    (a.message ?? null) === (b.message ?? null) &&
    (a.retryable ?? null) === (b.retryable ?? null) &&
    canonicalJson(a.output ?? null) === canonicalJson(b.output ?? null)
  );
}

export class Engine {
  readonly bootId = randomBytes(6).toString('base64url');
  readonly startedAt: number;
  private readonly store: RunStore;
  private readonly signer: Signer;
  private readonly clock: Clock;
  private readonly log: EngineLogger;
  private readonly fetchImpl: typeof fetch;
  private readonly maxRejected: number;
  private readonly maxRunBytes: number;
  private readonly mailboxes = new Mailboxes();
  private readonly timers: TimerService;
  /** Committed documents of the runs used most recently. Every other document is read from the store on demand. */
  private readonly docs: DocCache;
  /**
   * Runs whose last commit failed after the store may have written the file (index append failed…): the document
   * as last acknowledged, which the next event must start from, whatever is on disk. Cleared by the next commit.
   */
  private readonly pinned = new Map<string, RunDoc>();
  private readonly summaries = new Map<string, RunSummary>();
  /** Quarantined runs (missing or unreadable document), each logged once when found. */
  private readonly damaged = new Map<string, DamagedRunInfo>();
  /** Runs that are not final. */
  private openRuns = 0;
  /** Run ids in creation order (ids sort by creation time). */
  private ids: string[] = [];
  private readonly listeners = new Set<(u: RunUpdate) => void>();
  private readonly inflight = new Map<string, AbortController>();
  private readonly pendingTriggers = new Set<Promise<void>>();
  /** Recovery markers not committed yet: written in the background, or first thing when their run sees an event. */
  private readonly pendingRecovery = new Map<string, RecoveryMarker>();
  /** Runs whose outbox (triggers in flight when the last process stopped) is re-sent on resume(). */
  private recoveredOutbox: string[] = [];
  /** When recovery ran: what was overdue then is decided against this, both in the log and on resume. */
  private recoveredAt = 0;
  private readonly background = new Set<Promise<void>>();
  private readonly recoveryConcurrency: number;
  /** Runs whose committed outbox is not empty (a trigger in flight): a shutdown checkpoint leaves them to a full read. */
  private readonly outboxRuns = new Set<string>();
  /** A commit failed this session: committed timers may differ from armed ones, so no shutdown checkpoint. */
  private commitFailed = false;
  private stopping = false;
  private resumed = false;
  private readonly turns: TurnBudget;
  /** The turn token of the step running now, if it has not handed it on yet. */
  private heldTurn: Release | null = null;

  private constructor(opts: EngineOptions) {
    this.store = opts.store;
    this.signer = opts.signer;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.fetchImpl = opts.fetch ?? fetch;
    this.maxRejected = opts.maxRejectedPerRun ?? 1000;
    this.maxRunBytes = opts.maxRunBytes ?? 8 * 1024 * 1024;
    this.startedAt = this.clock.now();
    this.docs = new DocCache(opts.docCacheSize ?? 1000);
    this.turns = new TurnBudget(opts.turnBudgetMs ?? 4);
    this.recoveryConcurrency = Math.max(1, opts.recoveryConcurrency ?? 32);
    // Held until resume(): recovery arms every timer here at once, and nothing fires before the server listens.
    this.timers = new TimerService(this.clock, (entry, firedAt) => this.onTimer(entry, firedAt), { paused: true, logger: this.log });
  }

  /** Loads the store, re-arms every timer at its original dueAt, re-sends pending triggers. */
  static async start(opts: EngineOptions): Promise<Engine> {
    const engine = new Engine(opts);
    await engine.recover();
    if (!opts.paused) engine.resume();
    return engine;
  }

  /** Arms every recovered timer at its original dueAt (overdue ones fire at once, in due order) and re-sends triggers. */
  resume(): void {
    if (this.resumed) return;
    this.resumed = true;
    // The timer service already holds every committed timer (recovery armed them, commits made while paused moved them).
    this.timers.start();
    // Triggers after timers are armed, so an outcome never races a timer that should have fired first. Read inside the
    // mailbox: a commit made while paused (an early callback) may have finished the run or cleared its outbox.
    // Only entries of attempts still open, and none whose attempt's timer was overdue at the restart: that timer fires
    // at once and ends the attempt, so a re-send would race ahead of it (recovery said so in the run's log already).
    const at = this.recoveredAt;
    for (const runId of this.recoveredOutbox) {
      this.track(
        this.withRun(runId, async (doc) => {
          if (!doc) return;
          for (const o of doc.outbox) if (resendable(doc, o, at)) this.send(doc, o);
        }),
        runId,
        'could not re-send recovered triggers',
      );
    }
    this.recoveredOutbox = [];
  }

  // ───────────────────────────── reading ─────────────────────────────

  get activeCount(): number {
    return this.openRuns;
  }

  /** Timers armed (none before resume()). */
  get timerCount(): number {
    return this.resumed ? this.timers.size : 0;
  }

  get runCount(): number {
    return this.ids.length;
  }

  view(doc: RunDoc): Run {
    return toRun(doc.snapshot, { rerunOf: doc.rerunOf }, this.signer.urlsFor);
  }

  /** The committed document. Outside the run's mailbox: a read from disk never enters the cache (it could be stale by the time it lands). */
  async getDoc(runId: string): Promise<RunDoc | null> {
    if (!this.summaries.has(runId) && !this.damaged.has(runId)) return null;
    return this.pinned.get(runId) ?? this.docs.peek(runId) ?? (await this.readStored(runId));
  }

  /** The committed document, inside the run's mailbox: nothing else can commit this run meanwhile, so it may be cached. */
  private async loadDoc(runId: string): Promise<RunDoc | null> {
    if (!this.summaries.has(runId) && !this.damaged.has(runId)) return null;
    const held = this.pinned.get(runId) ?? this.docs.get(runId);
    if (held) return held;
    const doc = await this.readStored(runId);
    this.docs.set(runId, doc);
    return doc;
  }

  /** A known run's document from the store; a missing or unreadable one quarantines the run (RunDamagedError). */
  private async readStored(runId: string): Promise<RunDoc> {
    const known = this.damaged.get(runId);
    if (known) throw new RunDamagedError(runId, known.file, known.reason);
    let doc: RunDoc | null;
    try {
      doc = await this.store.read(runId);
    } catch (e) {
      if (e instanceof CorruptRunFileError) throw this.quarantine(runId, e.file, e.reason);
      throw e;
    }
    // Listed (the index knew it) but no document: its file went away after start-up.
    if (!doc) throw this.quarantine(runId, `run ${runId}`, 'the document is missing');
    return doc;
  }

  private quarantine(runId: string, file: string, reason: string): RunDamagedError {
    if (!this.damaged.has(runId)) {
      this.damaged.set(runId, { runId, file, reason, since: this.clock.now() });
      this.log.error({ runId, file, reason }, 'run damaged: quarantined until its file is repaired and Tether restarted');
    }
    return new RunDamagedError(runId, file, reason);
  }

  /** Quarantined runs: listed in /healthz. */
  damagedRuns(): DamagedRunInfo[] {
    return [...this.damaged.values()];
  }

  /**
   * Runs `task` in the run's mailbox with its committed document (null if the run does not exist). A recovery marker
   * still pending for the run is committed first, so the log always shows the restart before anything after it.
   */
  private withRun<T>(runId: string, task: (doc: RunDoc | null) => Promise<T>): Promise<T> {
    return this.mailboxes.run(runId, () => this.withTurn(async () => {
      let doc = await this.loadDoc(runId);
      const marker = this.pendingRecovery.get(runId);
      if (doc && marker) {
        doc = await this.record(
          doc,
          { type: 'server.recovered', source: 'server', verdict: 'recorded', detail: recoveryDetail(marker) },
          { at: marker.at, countResend: marker.outbox.map((o) => o.id) },
        );
        this.pendingRecovery.delete(runId);
      }
      return task(doc);
    }));
  }

  /**
   * Runs a step's CPU part under the turn budget (turn-budget.ts): the token is handed on as soon as the step gives its
   * commit to the store (`yieldTurn`), or when it ends without one.
   */
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

  private yieldTurn(): void {
    const release = this.heldTurn;
    this.heldTurn = null;
    release?.();
  }

  private track(p: Promise<unknown>, runId: string, what: string): void {
    const settled: Promise<void> = p.then(
      () => undefined,
      (e) => this.log.error({ runId, err: (e as Error)?.message ?? String(e) }, what),
    );
    this.background.add(settled);
    void settled.finally(() => this.background.delete(settled));
  }

  async getRun(runId: string): Promise<Run | null> {
    const doc = await this.getDoc(runId);
    return doc ? this.view(doc) : null;
  }

  async getEvents(runId: string): Promise<RunEventEntry[] | null> {
    const doc = await this.getDoc(runId);
    return doc ? doc.events : null;
  }

  getSummary(runId: string): RunSummary | undefined {
    return this.summaries.get(runId);
  }

  /** Newest first. `cursor` is the last id of the previous page. */
  listRuns(q: { status?: string; name?: string; limit?: number; cursor?: string } = {}): {
    runs: RunSummary[];
    nextCursor: string | null;
  } {
    const limit = Math.max(1, Math.min(500, q.limit ?? 50));
    const name = q.name?.toLowerCase();
    const out: RunSummary[] = [];
    let i = this.ids.length - 1;
    if (q.cursor) {
      const at = this.ids.lastIndexOf(q.cursor);
      i = at >= 0 ? at - 1 : -1;
    }
    for (; i >= 0; i--) {
      const s = this.summaries.get(this.ids[i]!);
      if (!s) continue;
      if (q.status && s.status !== q.status) continue;
      if (name && !s.name.toLowerCase().includes(name)) continue;
      if (out.length === limit) return { runs: out, nextCursor: out[out.length - 1]!.id };
      out.push(s);
    }
    return { runs: out, nextCursor: null };
  }

  allSummaries(): RunSummary[] {
    const out: RunSummary[] = [];
    for (let i = this.ids.length - 1; i >= 0; i--) {
      const s = this.summaries.get(this.ids[i]!);
      if (s) out.push(s);
    }
    return out;
  }

  subscribe(fn: (u: RunUpdate) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // ───────────────────────────── writing ─────────────────────────────

  /** Creates a run and starts it: creation and `run.start` are one commit. */
  async createRun(config: ResolvedRunConfig, opts: { rerunOf?: string | null } = {}): Promise<Run> {
    this.assertRunning();
    const at = this.clock.now();
    const id = newRunId(at);
    const input = { runId: id, config, at };
    const [initial] = decideInitial(input);
    const doc: RunDoc = {
      v: 1,
      id,
      input,
      rerunOf: opts.rerunOf ?? null,
      snapshot: persist(initial),
      timers: [],
      outbox: [],
      events: [
        {
          seq: 0,
          at: iso(at),
          type: 'run.created',
          source: 'api',
          verdict: 'recorded',
          detail: opts.rerunOf ? `Re-run of ${opts.rerunOf}.` : 'Created.',
          stateAfter: leafState(initial.value),
        },
      ],
    };
    return this.mailboxes.run(id, () =>
      this.withTurn(async () => {
        const { doc: committed } = await this.step(doc, { type: 'run.start', at }, { source: 'api' }, { creating: true });
        return this.view(committed);
      }),
    );
  }

  /**
   * Applies one event to a run (operator and API actions). Rejected events are still recorded with their verdict.
   * Returns null when the run does not exist.
   */
  async dispatch(
    runId: string,
    event: RunEvent,
    meta: { source: EventSourceName; detail?: string; httpStatus?: number },
  ): Promise<Applied | null> {
    this.assertRunning();
    return this.withRun(runId, async (doc) => {
      if (!doc) return null;
      const { doc: committed, accepted, entry } = await this.step(doc, event, meta, { maxBytes: this.maxRunBytes });
      return { accepted, entry, run: this.view(committed) };
    });
  }

  /**
   * A callback from the external system (or an operator): applied, or answered duplicate / conflict / late / not found,
   * and recorded in the run's log either way. Resolves only after the commit is durable.
   */
  async callback(
    runId: string,
    attemptId: string,
    payload: CallbackPayload,
    source: EventSourceName = 'callback',
  ): Promise<CallbackOutcome> {
    this.assertRunning();
    return this.withRun(runId, async (doc) => {
      if (!doc) return { result: 'not_found', httpStatus: 404, message: `Run ${runId} does not exist.` };
      const at = this.clock.now();
      const attempt = doc.snapshot.context.attempts.find((a) => a.id === attemptId);
      const event: RunEvent = { type: 'callback.received', attemptId, ...payload, at };
      if (!attempt) {
        const message = `Run ${runId} has no attempt ${attemptId}.`;
        await this.step(doc, event, { source, verdict: 'not_found', httpStatus: 404, detail: message });
        return { result: 'not_found', httpStatus: 404, attemptId, message };
      }
      const snap = hydrate(doc.snapshot);
      if (snap.can(event)) {
        const meta = { source, httpStatus: 200, detail: payload.success ? 'Success accepted.' : 'Failure accepted.' };
        const refused = await this.sizeLimited(doc, event, () => this.step(doc, event, meta, { snap, accepted: true, maxBytes: this.maxRunBytes }));
        return refused ?? { result: 'accepted', httpStatus: 200, attemptId, message: 'Callback accepted.' };
      }
      const base = { attemptId, attemptState: attempt.state, endedAt: attempt.endedAt === null ? null : iso(attempt.endedAt) };
      if (attempt.callback) {
        if (sameCallback(attempt.callback, payload)) {
          const message = `Attempt ${attempt.number} was already settled with this callback.`;
          await this.step(doc, event, { source, verdict: 'duplicate', httpStatus: 200, detail: message });
          return { result: 'duplicate', httpStatus: 200, ...base, message };
        }
        const message = `Attempt ${attempt.number} was already settled with a different callback (${attempt.state}).`;
        await this.step(doc, event, { source, verdict: 'conflict', httpStatus: 409, detail: message });
        return { result: 'conflict', httpStatus: 409, ...base, message };
      }
      const message = this.lateReason(doc, attempt.id);
      await this.step(doc, event, { source, verdict: 'late', httpStatus: 410, detail: message });
      return { result: 'late', httpStatus: 410, ...base, message };
    });
  }

  /** A heartbeat: extends the current attempt's heartbeat deadline and records progress; late ones are 410. */
  async heartbeat(runId: string, attemptId: string, progress: unknown, source: EventSourceName = 'callback'): Promise<CallbackOutcome> {
    this.assertRunning();
    return this.withRun(runId, async (doc) => {
      if (!doc) return { result: 'not_found', httpStatus: 404, message: `Run ${runId} does not exist.` };
      const at = this.clock.now();
      const attempt = doc.snapshot.context.attempts.find((a) => a.id === attemptId);
      const event: RunEvent = progress === undefined ? { type: 'heartbeat.received', attemptId, at } : { type: 'heartbeat.received', attemptId, progress, at };
      if (!attempt) {
        const message = `Run ${runId} has no attempt ${attemptId}.`;
        await this.step(doc, event, { source, verdict: 'not_found', httpStatus: 404, detail: message });
        return { result: 'not_found', httpStatus: 404, attemptId, message };
      }
      const snap = hydrate(doc.snapshot);
      if (snap.can(event)) {
        const meta = { source, httpStatus: 200, detail: 'Heartbeat accepted.' };
        const refused = await this.sizeLimited(doc, event, () => this.step(doc, event, meta, { snap, accepted: true, maxBytes: this.maxRunBytes }));
        return refused ?? { result: 'accepted', httpStatus: 200, attemptId, message: 'Heartbeat accepted.' };
      }
      const message = this.lateReason(doc, attempt.id);
      await this.step(doc, event, { source, verdict: 'late', httpStatus: 410, detail: message });
      return {
        result: 'late',
        httpStatus: 410,
        attemptId,
        attemptState: attempt.state,
        endedAt: attempt.endedAt === null ? null : iso(attempt.endedAt),
        message,
      };
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
      await this.record(doc, entry);
      return true;
    });
  }

  /**
   * Runs an accepted callback's or heartbeat's step; if it would grow the run past maxRunBytes, records the refusal
   * instead (a small rejected entry, folded like any other once there are many) and answers 413.
   */
  private async sizeLimited(doc: RunDoc, event: RunEvent, apply: () => Promise<unknown>): Promise<CallbackOutcome | null> {
    try {
      await apply();
      return null;
    } catch (e) {
      if (!(e instanceof RunTooLargeError)) throw e;
      const attemptId = (event as { attemptId: string }).attemptId;
      await this.record(doc, { type: event.type, attemptId, verdict: 'invalid', httpStatus: 413, detail: e.message, source: 'callback' });
      return { result: 'invalid', httpStatus: 413, attemptId, message: e.message };
    }
  }

  private lateReason(doc: RunDoc, attemptId: string): string {
    const ctx = doc.snapshot.context;
    const a = ctx.attempts.find((x) => x.id === attemptId)!;
    const current = ctx.attempts[ctx.attempts.length - 1]!;
    const when = a.endedAt !== null ? ` at ${iso(a.endedAt)}` : '';
    if (a.id !== current.id) return `Attempt ${a.number} was superseded by attempt ${current.number}; it ended ${a.state}${when}.`;
    if (isFinalRunStatus(toRunSummary(doc.snapshot).status) && isOpenAttemptState(a.state))
      return `The run is ${leafState(doc.snapshot.value)}.`;
    // Still open but refused: the callback came at or after the deadline, a moment before the timer's own commit.
    if (isOpenAttemptState(a.state)) return `Attempt ${a.number} reached its deadline ${iso(attemptDueAt(ctx))} before this arrived; it is timing out.`;
    return `Attempt ${a.number} is no longer waiting: it ended ${a.state}${when}.`;
  }

  // ───────────────────────────── the commit path ─────────────────────────────

  /**
   * One event, one commit. Must run inside the run's mailbox.
   * `verdict` forces a non-applied verdict (callback classification); otherwise it is applied iff the machine accepts it.
   */
  private async step(
    doc: RunDoc,
    event: MachineEvent,
    meta: { source: EventSourceName; verdict?: RunEventEntry['verdict']; httpStatus?: number; detail?: string; removeOutbox?: string },
    opts: { creating?: boolean; snap?: RunSnapshot; accepted?: boolean; maxBytes?: number } = {},
  ): Promise<{ doc: RunDoc; accepted: boolean; entry: RunEventEntry }> {
    const creating = opts.creating ?? false;
    // The caller may have hydrated and asked can() already (to classify a callback): once per event is enough.
    const snap = opts.snap ?? hydrate(doc.snapshot);
    const accepted = meta.verdict === undefined && (opts.accepted ?? snap.can(event as RunEvent));
    let next = snap;
    let actions: ReadonlyArray<{ type: string; params?: unknown }> = [];
    if (accepted) [next, actions] = decide(snap, event);

    const timers = new Map(doc.timers.map((t) => [t.key, t]));
    const outbox = meta.removeOutbox ? doc.outbox.filter((o) => o.id !== meta.removeOutbox) : doc.outbox.slice();
    const newOutbox: OutboxEntry[] = [];
    for (const a of actions) {
      if (a.type === 'xstate.raise') {
        const p = a.params as { id?: string; delay?: number; event: { type: string } };
        if (p.delay === undefined || p.id === undefined) continue;
        timers.set(p.id, { key: p.id, dueAt: event.at + p.delay, eventType: p.event.type });
      } else if (a.type === 'xstate.cancel') {
        timers.delete((a.params as { sendId: string }).sendId);
      } else if (a.type === 'triggerAttempt') {
        const p = a.params as { attemptId: string; number: number };
        // sends: 1 — this commit precedes exactly one send; each restart that re-sends it adds one in its recovery commit.
        const entry: OutboxEntry = { id: p.attemptId, kind: 'trigger', attemptId: p.attemptId, number: p.number, createdAt: event.at, sends: 1 };
        outbox.push(entry);
        newOutbox.push(entry);
      }
    }

    const snapshot = accepted ? persist(next) : doc.snapshot;
    const kept = liveOutbox(snapshot, outbox);

    const entry: RunEventEntry = {
      seq: doc.events.length,
      at: iso(event.at),
      type: event.type,
      source: meta.source,
      verdict: meta.verdict ?? (accepted ? 'applied' : 'rejected'),
      stateAfter: leafState(next.value),
    };
    const attemptId = (event as { attemptId?: unknown }).attemptId;
    if (typeof attemptId === 'string') entry.attemptId = attemptId;
    if (meta.httpStatus !== undefined) entry.httpStatus = meta.httpStatus;
    if (meta.detail !== undefined) entry.detail = meta.detail;
    if (accepted) entry.event = event;
    else if (!accepted && meta.verdict === undefined && entry.detail === undefined)
      entry.detail = `Not accepted in state ${leafState(snap.value)}.`;
    // Say so when this commit ends an attempt whose trigger had not been answered: its request is abandoned.
    const abandoned = outbox.filter((o) => !kept.includes(o) && !newOutbox.includes(o));
    if (abandoned.length) {
      const which = abandoned.map((o) => `attempt ${o.number}`).join(', ');
      entry.detail = `${entry.detail ? `${entry.detail} ` : ''}The trigger for ${which} had no answer yet: abandoned, never re-sent.`;
    }

    const { events, stored } = (accepted && this.foldHeartbeat(doc.events, entry)) || this.appendBounded(doc.events, entry);
    const nextDoc: RunDoc = {
      ...doc,
      snapshot,
      timers: [...timers.values()],
      outbox: kept,
      events,
    };
    // Only an accepted event grows a run by what its sender chose to send (output, progress); a rejected one is a small
    // entry whose number is capped (appendBounded).
    await this.commit(nextDoc, creating, doc, accepted ? opts.maxBytes : undefined);
    this.afterCommit(doc, nextDoc, newOutbox.filter((o) => kept.includes(o)), [stored]);
    return { doc: nextDoc, accepted, entry: stored };
  }

  /** Appends a host-side entry (recovery marker, rejected request) without touching the machine. */
  private async record(
    doc: RunDoc,
    e: { type: string; attemptId?: string; verdict: RunEventEntry['verdict']; httpStatus?: number; detail: string; source: EventSourceName },
    opts: { at?: number; countResend?: readonly string[] } = {},
  ): Promise<RunDoc> {
    const entry: RunEventEntry = {
      seq: doc.events.length,
      at: iso(opts.at ?? this.clock.now()),
      type: e.type,
      source: e.source,
      verdict: e.verdict,
      detail: e.detail,
      stateAfter: leafState(doc.snapshot.value),
    };
    if (e.attemptId !== undefined) entry.attemptId = e.attemptId;
    if (e.httpStatus !== undefined) entry.httpStatus = e.httpStatus;
    const { events, stored } = this.appendBounded(doc.events, entry);
    // A recovery commit that precedes a re-send counts it on the entries it re-sends (OutboxEntry.sends). Entries of
    // attempts that are over (documents written before the outbox followed its attempt) are dropped here.
    const resent = new Set(opts.countResend ?? []);
    const outbox = liveOutbox(doc.snapshot, doc.outbox).map((o) => (resent.has(o.id) ? { ...o, sends: o.sends + 1 } : o));
    const nextDoc: RunDoc = { ...doc, events, outbox };
    await this.commit(nextDoc, false, doc);
    this.afterCommit(doc, nextDoc, [], [stored]);
    return nextDoc;
  }

  /**
   * An accepted heartbeat right after an accepted heartbeat to the same attempt replaces it (same seq, `repeats` + 1)
   * instead of growing the log: a job beating every few seconds for hours would otherwise make every later commit of
   * its run rewrite thousands of entries (in the B1 load, docs doubled in size and serialising them became the largest
   * cost). Replay stays exact: consecutive heartbeats only overwrite the attempt's lastHeartbeatAt, heartbeat deadline
   * and progress, so the last one — carrying the latest progress any of them sent — leaves the same snapshot.
   * Null when the entry does not fold.
   */
  private foldHeartbeat(events: RunEventEntry[], entry: RunEventEntry): { events: RunEventEntry[]; stored: RunEventEntry } | null {
    const last = events[events.length - 1];
    if (entry.type !== 'heartbeat.received' || entry.verdict !== 'applied' || !last || last.type !== 'heartbeat.received') return null;
    if (last.verdict !== 'applied' || last.attemptId !== entry.attemptId || !last.event) return null;
    const previous = last.event as { progress?: unknown };
    const event = entry.event as { progress?: unknown };
    const repeats = (last.repeats ?? 1) + 1;
    const stored: RunEventEntry = {
      ...entry,
      seq: last.seq,
      event: event.progress === undefined && previous.progress !== undefined ? { ...event, progress: previous.progress } : event,
      repeats,
      detail: `${entry.detail ?? 'Heartbeat accepted.'} ${repeats} in a row; the log keeps the last.`,
    };
    return { events: [...events.slice(0, -1), stored], stored };
  }

  /**
   * Rejected entries beyond the cap are folded into the last one instead of growing the run forever. Only a
   * rejected entry is ever folded into: an applied or recorded one is replay input and history, never overwritten
   * (consecutive heartbeats aside: foldHeartbeat keeps replay exact).
   * Returns the entry as stored, which is what subscribers and callers are told.
   */
  private appendBounded(events: RunEventEntry[], entry: RunEventEntry): { events: RunEventEntry[]; stored: RunEventEntry } {
    const kept = (e: RunEventEntry) => e.verdict === 'applied' || e.verdict === 'recorded';
    if (kept(entry)) return { events: [...events, entry], stored: entry };
    let rejected = 0;
    for (const e of events) if (!kept(e)) rejected++;
    const last = events[events.length - 1];
    if (rejected < this.maxRejected || !last || kept(last)) return { events: [...events, entry], stored: entry };
    const folded: RunEventEntry = {
      ...last,
      detail: `${entry.type} (${entry.verdict}, ${entry.httpStatus ?? '-'}) at ${entry.at}; more rejected requests were not kept (limit ${this.maxRejected} per run).`,
    };
    return { events: [...events.slice(0, -1), folded], stored: folded };
  }

  /** `prev` is the document the change started from: what the run still is if this commit fails. */
  private async commit(doc: RunDoc, creating: boolean, prev: RunDoc, maxBytes?: number): Promise<void> {
    const summary = toRunSummary(doc.snapshot);
    try {
      const landed = this.store.commit(doc, summary, maxBytes === undefined ? undefined : { maxBytes });
      // The CPU part of this step is done; the next run's step may start while the journal writes this one.
      this.yieldTurn();
      await landed;
    } catch (e) {
      // Refused before anything was written: the run is as it was, and the store is fine.
      if (e instanceof RunTooLargeError) throw e;
      this.log.error({ runId: doc.id, err: (e as Error).message }, 'commit failed');
      // The store may have written the file before failing (index append…): the next event must start from the
      // last acknowledged document, not from whatever the disk holds, or an unacknowledged event would count.
      if (!creating) this.pinned.set(doc.id, prev);
      this.commitFailed = true;
      throw new CommitError(doc.id, e);
    }
    this.pinned.delete(doc.id);
    if (doc.outbox.length) this.outboxRuns.add(doc.id);
    else this.outboxRuns.delete(doc.id);
    const before = this.summaries.get(doc.id);
    const wasOpen = before !== undefined && !isFinalRunStatus(before.status);
    const isOpen = !isFinalRunStatus(summary.status);
    this.openRuns += (isOpen ? 1 : 0) - (wasOpen ? 1 : 0);
    if (creating) this.ids.push(doc.id);
    this.summaries.set(doc.id, summary);
    this.docs.set(doc.id, doc);
  }

  private afterCommit(prev: RunDoc, next: RunDoc, newOutbox: OutboxEntry[], events: RunEventEntry[]): void {
    // An entry this commit dropped belongs to an attempt that is over (or its outcome was just recorded): a request
    // still in flight for it is abandoned, so its answer can neither be waited for nor applied.
    for (const o of prev.outbox) {
      if (!next.outbox.some((x) => x.id === o.id)) this.inflight.get(o.id)?.abort(new Error('attempt ended'));
    }
    const withRun = (t: Omit<TimerEntry, 'runId'>): TimerEntry => ({ ...t, runId: next.id });
    this.timers.sync(next.id, prev.timers.map(withRun), next.timers.map(withRun));
    for (const o of newOutbox) this.send(next, o);
    if (this.listeners.size) {
      let run: Run | undefined;
      const view = () => (run ??= this.view(next));
      const update: RunUpdate = {
        get run() {
          return view();
        },
        summary: this.summaries.get(next.id)!,
        events,
        doc: next,
      };
      for (const l of this.listeners) {
        try {
          l(update);
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, 'subscriber threw');
        }
      }
    }
  }

  // ───────────────────────────── effects ─────────────────────────────

  private onTimer(entry: TimerEntry, firedAt: number): void {
    if (this.stopping) return;
    void this.withRun(entry.runId, async (doc) => {
      // Cancelled, or moved later, between firing and now: the committed timers decide. Compared with the firing
      // time rather than the armed dueAt, because a retry after a failed commit is armed later than the committed one.
      const committed = doc?.timers.find((t) => t.key === entry.key);
      if (!doc || !committed || committed.dueAt > firedAt) return;
      const late = firedAt - committed.dueAt;
      await this.step(
        doc,
        { type: committed.eventType as TimerEvent['type'], at: firedAt },
        { source: 'timer', detail: `Timer due ${iso(committed.dueAt)} fired ${late} ms late.` },
      );
    }).catch((e) => {
      // A damaged run waits for its file to be repaired and a restart (which re-arms its timers from the file).
      if (e instanceof RunDamagedError) return;
      // The commit failed (disk full?): nothing changed; try again shortly so the timer is not lost.
      this.log.error({ runId: entry.runId, err: (e as Error).message }, 'timer commit failed; retrying in 1 s');
      if (!this.stopping) this.timers.arm({ ...entry, dueAt: Math.max(entry.dueAt, this.clock.now()) + 1000 });
    });
  }

  /** Sends one outbox entry of `doc` (the run's committed document, for its config). */
  private send(doc: RunDoc, o: OutboxEntry): void {
    if (this.stopping || this.inflight.has(o.id)) return;
    const runId = doc.id;
    // A run that finished meanwhile (cancelled while a re-send waited) is not triggered again.
    const summary = this.summaries.get(runId);
    if (!summary || isFinalRunStatus(summary.status)) return;
    const ac = new AbortController();
    this.inflight.set(o.id, ac);
    const config = doc.snapshot.context.config;
    const pending: Promise<void> = sendTrigger(this.fetchImpl, {
      url: config.target.url,
      method: config.target.method,
      headers: config.target.headers ?? {},
      timeoutMs: Math.round(config.triggerTimeoutSeconds * 1000),
      signal: ac.signal,
      idempotencyKey: o.attemptId,
      body: {
        runId,
        attemptId: o.attemptId,
        attempt: o.number,
        callbackUrl: this.signer.callbackUrl(runId, o.attemptId),
        heartbeatUrl: this.signer.heartbeatUrl(runId, o.attemptId),
        payload: config.payload ?? null,
      },
    })
      .then((outcome) => this.onTriggerOutcome(doc, o, outcome))
      .finally(() => {
        this.inflight.delete(o.id);
        this.pendingTriggers.delete(pending);
      });
    this.pendingTriggers.add(pending);
  }

  private async onTriggerOutcome(sent: RunDoc, o: OutboxEntry, outcome: TriggerOutcome): Promise<void> {
    if (this.stopping) return; // Not committed: the outbox still holds it; the next start re-sends it.
    const runId = sent.id;
    const at = this.clock.now();
    const event: RunEvent = outcome.ok
      ? { type: 'trigger.succeeded', attemptId: o.attemptId, at }
      : { type: 'trigger.failed', attemptId: o.attemptId, message: outcome.message, at };
    try {
      await this.withRun(runId, async (doc) => {
        // The entry is gone when its attempt ended meanwhile (an early callback, its timeout, a cancel): that commit
        // abandoned this request, and an outcome for an attempt that is over has nothing left to decide.
        if (!doc || !doc.outbox.some((x) => x.id === o.id)) return;
        await this.step(doc, event, { source: 'trigger', removeOutbox: o.id, detail: outcome.detail });
      });
    } catch (e) {
      this.log.error({ runId, err: (e as Error).message }, 'trigger outcome commit failed; re-sending in 1 s');
      // On the engine's clock (not a wall-clock setTimeout), so injected clocks drive this retry like every other timer.
      this.clock.setTimer(() => this.resend(runId, o.id), 1000);
    }
  }

  /**
   * Sends an entry again from the run's committed document, read in its mailbox: the attempt may have ended since the
   * outcome that could not be committed (its timeout fired, a callback settled it), and then the entry is gone.
   */
  private resend(runId: string, outboxId: string): void {
    if (this.stopping) return;
    this.withRun(runId, async (doc) => {
      const o = doc?.outbox.find((x) => x.id === outboxId);
      if (doc && o) this.send(doc, o);
    }).catch((e) => {
      this.log.error({ runId, err: (e as Error)?.message ?? String(e) }, 'could not read the run to re-send its trigger; retrying in 1 s');
      this.clock.setTimer(() => this.resend(runId, outboxId), 1000);
    });
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  private async recover(): Promise<void> {
    const { active, pending = [], summaries, damaged = [], warnings = [] } = await this.store.load();
    for (const w of warnings) this.log.warn({}, w);
    for (const d of damaged) this.quarantine(d.id, d.file, d.reason);
    for (const s of summaries) {
      this.summaries.set(s.id, s);
      if (!isFinalRunStatus(s.status)) this.openRuns++;
    }
    this.ids = summaries.map((s) => s.id);
    // Ids sort by creation time; the store usually returns them in that order already (100k sorted in O(n), not O(n log n)).
    if (this.ids.some((id, i) => i > 0 && id < this.ids[i - 1]!)) this.ids.sort();
    const now = (this.recoveredAt = this.clock.now());
    const brief = ({ id, number }: OutboxEntry) => ({ id, number });
    const recoverOne = (runId: string, timers: RunDoc['timers'], attempt: number | undefined, outbox: OutboxEntry[], dropped: OutboxEntry[] = []) => {
      // Into the paused timer service at the original dueAt: nothing fires before resume().
      for (const t of timers) this.timers.arm({ ...t, runId });
      if (outbox.length) this.recoveredOutbox.push(runId);
      // The entry's text is built when it is committed (in the background): 100k of them are not built before serving.
      this.pendingRecovery.set(runId, { at: now, timers, attempt, outbox: outbox.map(brief), dropped: dropped.map(brief) });
    };
    for (const doc of active) {
      const attempts = doc.snapshot.context.attempts;
      if (doc.outbox.length) this.outboxRuns.add(doc.id);
      const resend = doc.outbox.filter((o) => resendable(doc, o, now));
      recoverOne(doc.id, doc.timers, attempts[attempts.length - 1]?.number, resend, doc.outbox.filter((o) => !resend.includes(o)));
    }
    for (const p of pending) recoverOne(p.id, p.timers, p.attempt, []);
    // The markers are committed in the background, a few at a time, so a restart with 100k waiting runs serves at once
    // instead of queueing 100k writes ahead of everything else. A run that sees an event first commits its own first.
    this.drainRecovery();
    this.log.info({ runs: this.ids.length, active: active.length + pending.length, fromCheckpoint: pending.length, timers: this.timers.size }, 'engine recovered');
  }

  /** What a clean shutdown leaves for the next start: every waiting run's committed timers (see LowdbRunStore). */
  private checkpointRuns(): PendingRun[] {
    const out: PendingRun[] = [];
    for (const [id, s] of this.summaries) {
      // A damaged run is left to a full read at the next start, which finds and reports it again.
      if (isFinalRunStatus(s.status) || this.outboxRuns.has(id) || this.pinned.has(id) || this.damaged.has(id)) continue;
      out.push({ id, attempt: s.attempt, timers: this.timers.timersOf(id).map(({ key, dueAt, eventType }) => ({ key, dueAt, eventType })) });
    }
    return out;
  }

  private drainRecovery(): void {
    const queue = [...this.pendingRecovery.keys()];
    const worker = async () => {
      while (queue.length && !this.stopping) {
        const runId = queue.pop()!;
        if (!this.pendingRecovery.has(runId)) continue;
        // withRun commits the marker; a failure is logged and the marker stays pending for the run's next event.
        await this.withRun(runId, async () => undefined).catch((e) => {
          if (!(e instanceof RunDamagedError)) this.log.error({ runId, err: (e as Error)?.message ?? String(e) }, 'could not record recovery');
        });
      }
    };
    for (let i = 0; i < Math.min(this.recoveryConcurrency, queue.length); i++) this.track(worker(), '-', 'recovery drain failed');
  }

  /** Waits until every queued commit and every trigger in flight has settled (tests and graceful shutdown). */
  async idle(): Promise<void> {
    while (this.mailboxes.pending || this.pendingTriggers.size || this.background.size) {
      await Promise.all([this.mailboxes.drain(), ...this.pendingTriggers, ...this.background]);
    }
  }

  /** Stop accepting work, finish in-flight commits, abort in-flight triggers (they stay in the outbox). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.timers.stop();
    // Triggers in flight stay in the outbox: the next start re-sends them with the same Idempotency-Key.
    for (const ac of this.inflight.values()) ac.abort(new Error('server stopping'));
    await Promise.all([this.mailboxes.drain(), ...this.background]);
    await this.mailboxes.drain();
    // Every commit is done: a checkpoint lets the next start skip reading the waiting runs' files. Best effort: without
    // it the next start reads them all, as after a crash.
    if (this.store.checkpoint && !this.commitFailed) {
      await this.store.checkpoint(this.checkpointRuns()).catch((e) => this.log.warn({ err: (e as Error)?.message ?? String(e) }, 'no shutdown checkpoint'));
    }
    await this.store.close();
  }

  private assertRunning(): void {
    if (this.stopping) throw new Error('The engine is stopping.');
  }
}
