/**
 * The durable run engine. XState decides; the engine owns time, effects and storage.
 *
 * For each event, inside the run's mailbox (one at a time per run, runs in parallel):
 *   hydrate → transition() → translate actions (delayed raise → timer at absolute dueAt, cancel → drop timer,
 *   triggerAttempt → outbox entry) → COMMIT snapshot + timers + outbox + log entry in one write
 *   → only then arm timers, send triggers and notify subscribers.
 * Effects are at-least-once (Idempotency-Key = attempt id); transitions are exactly-once.
 */
import { randomBytes } from 'node:crypto';
import { initialTransition, transition } from 'xstate';
import {
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
import type { Signer } from './signer.ts';
import { TimerService, type TimerEntry } from './timer-service.ts';
import { sendTrigger, type TriggerOutcome } from './trigger.ts';
import type { OutboxEntry, PersistedRunSnapshot, RunDoc, RunStore } from '../store/types.ts';

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
}

/** What subscribers receive after every commit. */
export interface RunUpdate {
  run: Run;
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

export type CallbackVerdict = 'accepted' | 'duplicate' | 'conflict' | 'late' | 'not_found';

/** What the webhook answers: the wire `CallbackResult` plus the HTTP status to send it with. */
export type CallbackOutcome = CallbackResult & {
  result: CallbackVerdict;
  httpStatus: 200 | 404 | 409 | 410;
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
  private readonly mailboxes = new Mailboxes();
  private readonly timers: TimerService;
  /** Non-final runs, as committed. Final runs are read from the store on demand. */
  private readonly active = new Map<string, RunDoc>();
  private readonly summaries = new Map<string, RunSummary>();
  /** Run ids in creation order (ids sort by creation time). */
  private ids: string[] = [];
  private readonly listeners = new Set<(u: RunUpdate) => void>();
  private readonly inflight = new Map<string, AbortController>();
  private readonly pendingTriggers = new Set<Promise<void>>();
  private stopping = false;
  private recovered: RunDoc[] = [];
  private resumed = false;

  private constructor(opts: EngineOptions) {
    this.store = opts.store;
    this.signer = opts.signer;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.fetchImpl = opts.fetch ?? fetch;
    this.maxRejected = opts.maxRejectedPerRun ?? 1000;
    this.startedAt = this.clock.now();
    this.timers = new TimerService(this.clock, (entry, firedAt) => this.onTimer(entry, firedAt));
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
    // Read the committed docs again: a commit made while paused may have moved a timer.
    const docs = this.recovered.map((d) => this.active.get(d.id)).filter((d): d is RunDoc => d !== undefined);
    for (const doc of docs) for (const t of doc.timers) this.timers.arm({ ...t, runId: doc.id });
    // Triggers after timers are armed, so an outcome never races a timer that should have fired first.
    for (const doc of docs) for (const o of doc.outbox) this.send(doc.id, o);
    this.recovered = [];
  }

  // ───────────────────────────── reading ─────────────────────────────

  get activeCount(): number {
    return this.active.size;
  }

  get timerCount(): number {
    return this.timers.size;
  }

  get runCount(): number {
    return this.ids.length;
  }

  view(doc: RunDoc): Run {
    return toRun(doc.snapshot, { rerunOf: doc.rerunOf }, this.signer.urlsFor);
  }

  async getDoc(runId: string): Promise<RunDoc | null> {
    return this.active.get(runId) ?? (this.summaries.has(runId) ? await this.store.read(runId) : null);
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
    const [initial] = initialTransition(runMachine, input);
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
    return this.mailboxes.run(id, async () => {
      const { doc: committed } = await this.step(doc, { type: 'run.start', at }, { source: 'api' }, true);
      return this.view(committed);
    });
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
    return this.mailboxes.run(runId, async () => {
      const doc = await this.getDoc(runId);
      if (!doc) return null;
      const { doc: committed, accepted, entry } = await this.step(doc, event, meta);
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
    return this.mailboxes.run(runId, async () => {
      const doc = await this.getDoc(runId);
      if (!doc) return { result: 'not_found', httpStatus: 404, message: `Run ${runId} does not exist.` };
      const at = this.clock.now();
      const attempt = doc.snapshot.context.attempts.find((a) => a.id === attemptId);
      const event: RunEvent = { type: 'callback.received', attemptId, ...payload, at };
      if (!attempt) {
        const message = `Run ${runId} has no attempt ${attemptId}.`;
        await this.step(doc, event, { source, verdict: 'not_found', httpStatus: 404, detail: message });
        return { result: 'not_found', httpStatus: 404, attemptId, message };
      }
      if (hydrate(doc.snapshot).can(event)) {
        await this.step(doc, event, { source, httpStatus: 200, detail: payload.success ? 'Success accepted.' : 'Failure accepted.' });
        return { result: 'accepted', httpStatus: 200, attemptId, message: 'Callback accepted.' };
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
    return this.mailboxes.run(runId, async () => {
      const doc = await this.getDoc(runId);
      if (!doc) return { result: 'not_found', httpStatus: 404, message: `Run ${runId} does not exist.` };
      const at = this.clock.now();
      const attempt = doc.snapshot.context.attempts.find((a) => a.id === attemptId);
      const event: RunEvent = progress === undefined ? { type: 'heartbeat.received', attemptId, at } : { type: 'heartbeat.received', attemptId, progress, at };
      if (!attempt) {
        const message = `Run ${runId} has no attempt ${attemptId}.`;
        await this.step(doc, event, { source, verdict: 'not_found', httpStatus: 404, detail: message });
        return { result: 'not_found', httpStatus: 404, attemptId, message };
      }
      if (hydrate(doc.snapshot).can(event)) {
        await this.step(doc, event, { source, httpStatus: 200, detail: 'Heartbeat accepted.' });
        return { result: 'accepted', httpStatus: 200, attemptId, message: 'Heartbeat accepted.' };
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
    return this.mailboxes.run(runId, async () => {
      const doc = await this.getDoc(runId);
      if (!doc) return false;
      await this.record(doc, entry);
      return true;
    });
  }

  private lateReason(doc: RunDoc, attemptId: string): string {
    const ctx = doc.snapshot.context;
    const a = ctx.attempts.find((x) => x.id === attemptId)!;
    const current = ctx.attempts[ctx.attempts.length - 1]!;
    const when = a.endedAt !== null ? ` at ${iso(a.endedAt)}` : '';
    if (a.id !== current.id) return `Attempt ${a.number} was superseded by attempt ${current.number}; it ended ${a.state}${when}.`;
    if (isFinalRunStatus(toRunSummary(doc.snapshot).status) && isOpenAttemptState(a.state))
      return `The run is ${leafState(doc.snapshot.value)}.`;
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
    creating = false,
  ): Promise<{ doc: RunDoc; accepted: boolean; entry: RunEventEntry }> {
    const snap = hydrate(doc.snapshot);
    const accepted = meta.verdict === undefined && snap.can(event as RunEvent);
    let next = snap;
    let actions: ReadonlyArray<{ type: string; params?: unknown }> = [];
    if (accepted) [next, actions] = transition(runMachine, snap, event as RunEvent);

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
        const entry: OutboxEntry = { id: p.attemptId, kind: 'trigger', attemptId: p.attemptId, number: p.number, createdAt: event.at, sends: 0 };
        outbox.push(entry);
        newOutbox.push(entry);
      }
    }

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

    const { events, stored } = this.appendBounded(doc.events, entry);
    const nextDoc: RunDoc = {
      ...doc,
      snapshot: accepted ? persist(next) : doc.snapshot,
      timers: [...timers.values()],
      outbox,
      events,
    };
    await this.commit(nextDoc, creating);
    this.afterCommit(doc, nextDoc, newOutbox, [stored]);
    return { doc: nextDoc, accepted, entry: stored };
  }

  /** Appends a host-side entry (recovery marker, rejected request) without touching the machine. */
  private async record(
    doc: RunDoc,
    e: { type: string; attemptId?: string; verdict: RunEventEntry['verdict']; httpStatus?: number; detail: string; source: EventSourceName },
  ): Promise<RunDoc> {
    const entry: RunEventEntry = {
      seq: doc.events.length,
      at: iso(this.clock.now()),
      type: e.type,
      source: e.source,
      verdict: e.verdict,
      detail: e.detail,
      stateAfter: leafState(doc.snapshot.value),
    };
    if (e.attemptId !== undefined) entry.attemptId = e.attemptId;
    if (e.httpStatus !== undefined) entry.httpStatus = e.httpStatus;
    const { events, stored } = this.appendBounded(doc.events, entry);
    const nextDoc: RunDoc = { ...doc, events };
    await this.commit(nextDoc, false);
    this.afterCommit(doc, nextDoc, [], [stored]);
    return nextDoc;
  }

  /**
   * Rejected entries beyond the cap are folded into the last one instead of growing the run forever. Only a
   * rejected entry is ever folded into: an applied or recorded one is replay input and history, never overwritten.
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

  private async commit(doc: RunDoc, creating: boolean): Promise<void> {
    const summary = toRunSummary(doc.snapshot);
    try {
      await this.store.commit(doc, summary);
    } catch (e) {
      this.log.error({ runId: doc.id, err: (e as Error).message }, 'commit failed');
      throw new CommitError(doc.id, e);
    }
    if (creating) this.ids.push(doc.id);
    this.summaries.set(doc.id, summary);
    if (isFinalRunStatus(summary.status)) this.active.delete(doc.id);
    else this.active.set(doc.id, doc);
  }

  private afterCommit(prev: RunDoc, next: RunDoc, newOutbox: OutboxEntry[], events: RunEventEntry[]): void {
    const withRun = (t: Omit<TimerEntry, 'runId'>): TimerEntry => ({ ...t, runId: next.id });
    this.timers.sync(next.id, prev.timers.map(withRun), next.timers.map(withRun));
    for (const o of newOutbox) this.send(next.id, o);
    if (this.listeners.size) {
      const update: RunUpdate = { run: this.view(next), summary: this.summaries.get(next.id)!, events, doc: next };
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
    void this.mailboxes
      .run(entry.runId, async () => {
        const doc = this.active.get(entry.runId);
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
      })
      .catch((e) => {
        // The commit failed (disk full?): nothing changed; try again shortly so the timer is not lost.
        this.log.error({ runId: entry.runId, err: (e as Error).message }, 'timer commit failed; retrying in 1 s');
        if (!this.stopping) this.timers.arm({ ...entry, dueAt: Math.max(entry.dueAt, this.clock.now()) + 1000 });
      });
  }

  private send(runId: string, o: OutboxEntry): void {
    if (this.stopping || this.inflight.has(o.id)) return;
    const doc = this.active.get(runId);
    if (!doc) return;
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
      .then((outcome) => this.onTriggerOutcome(runId, o, outcome))
      .finally(() => {
        this.inflight.delete(o.id);
        this.pendingTriggers.delete(pending);
      });
    this.pendingTriggers.add(pending);
  }

  private async onTriggerOutcome(runId: string, o: OutboxEntry, outcome: TriggerOutcome): Promise<void> {
    if (this.stopping) return; // Not committed: the outbox still holds it; the next start re-sends it.
    const at = this.clock.now();
    const event: RunEvent = outcome.ok
      ? { type: 'trigger.succeeded', attemptId: o.attemptId, at }
      : { type: 'trigger.failed', attemptId: o.attemptId, message: outcome.message, at };
    try {
      await this.mailboxes.run(runId, async () => {
        // The run may have finished meanwhile (an early callback): the outcome is still recorded, and the outbox cleared.
        const doc = await this.getDoc(runId);
        if (!doc || !doc.outbox.some((x) => x.id === o.id)) return;
        await this.step(doc, event, { source: 'trigger', removeOutbox: o.id, detail: outcome.detail });
      });
    } catch (e) {
      this.log.error({ runId, err: (e as Error).message }, 'trigger outcome commit failed; re-sending in 1 s');
      // On the engine's clock (not a wall-clock setTimeout), so injected clocks drive this retry like every other timer.
      this.clock.setTimer(() => this.send(runId, o), 1000);
    }
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  private async recover(): Promise<void> {
    const { active, summaries } = await this.store.load();
    for (const s of summaries) this.summaries.set(s.id, s);
    this.ids = summaries.map((s) => s.id).sort();
    const now = this.clock.now();
    for (const doc of active) {
      this.active.set(doc.id, doc);
      const attempt = doc.snapshot.context.attempts[doc.snapshot.context.attempts.length - 1];
      const parts: string[] = [];
      for (const t of doc.timers) {
        const left = t.dueAt - now;
        const what = t.key.includes('retryBackoff') ? `backoff timer before attempt ${(attempt?.number ?? 0) + 1}` : `attempt ${attempt?.number ?? '?'} timer`;
        parts.push(left >= 0 ? `${what} re-armed with ${left} ms left` : `${what} overdue by ${-left} ms; fired at once`);
      }
      for (const o of doc.outbox) parts.push(`trigger for attempt ${o.number} re-sent (Idempotency-Key ${o.id})`);
      const detail = parts.length ? `Server restarted; ${parts.join('; ')}.` : 'Server restarted; nothing pending.';
      void this.mailboxes
        .run(doc.id, () => this.record(this.active.get(doc.id) ?? doc, { type: 'server.recovered', source: 'server', verdict: 'recorded', detail }))
        .catch((e) => this.log.error({ runId: doc.id, err: (e as Error).message }, 'could not record recovery'));
    }
    this.recovered = active;
    this.log.info({ runs: this.ids.length, active: active.length, timers: this.timers.size }, 'engine recovered');
  }

  /** Waits until every queued commit and every trigger in flight has settled (tests and graceful shutdown). */
  async idle(): Promise<void> {
    while (this.mailboxes.pending || this.pendingTriggers.size) {
      await Promise.all([this.mailboxes.drain(), ...this.pendingTriggers]);
    }
  }

  /** Stop accepting work, finish in-flight commits, abort in-flight triggers (they stay in the outbox). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.timers.stop();
    // Triggers in flight stay in the outbox: the next start re-sends them with the same Idempotency-Key.
    for (const ac of this.inflight.values()) ac.abort(new Error('server stopping'));
    await this.mailboxes.drain();
    await this.store.close();
  }

  private assertRunning(): void {
    if (this.stopping) throw new Error('The engine is stopping.');
  }
}
