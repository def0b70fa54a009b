/**
 * The engine's ports: what the shell needs from the world, each an interface with today's single-process
 * implementation in `local/`. A database-backed cluster implements the same interfaces (a row lock instead of a
 * mailbox, timer rows instead of a heap, …) without a second engine.
 */
import type { Run, RunEventEntry, RunSummary } from '@tether/machine';
import type { TimerEntry } from './timer-service.ts';
import type { OutboxEntry, RunDoc } from '../store/types.ts';
import type { TriggerOutcome } from './trigger.ts';

/** One task at a time per run, in arrival order; different runs in parallel. */
export interface RunLock {
  run<T>(runId: string, task: () => Promise<T>): Promise<T>;
  /** Runs with queued tasks. */
  readonly pending: number;
  /** Resolves once every queued task has settled. */
  drain(): Promise<void>;
}

/** Timers at absolute due times; `onFire(entry, firedAt)` is called with `firedAt >= entry.dueAt`. */
export interface Scheduler {
  /** Make the run's armed timers what `next` says (a commit moved them from `prev`). */
  sync(runId: string, prev: readonly TimerEntry[], next: readonly TimerEntry[]): void;
  arm(entry: TimerEntry): void;
  timersOf(runId: string): TimerEntry[];
  readonly size: number;
  /** Start firing (a scheduler starts paused while recovery arms it). */
  start(): void;
  stop(): void;
}

/** Sends outbox entries (trigger requests) and tells the shell their outcome; aborts those whose attempt ended. */
export interface OutboxDispatcher {
  /** Sends `entry` of `doc` (the run's committed document) unless it is in flight already; `onOutcome` gets its answer. */
  send(doc: RunDoc, entry: OutboxEntry, onOutcome: (outcome: TriggerOutcome) => Promise<void>): void;
  /** Abandons the request of `entryId` if one is in flight: its attempt is over. */
  abort(entryId: string, reason: string): void;
  abortAll(reason: string): void;
  /** Promises of the requests in flight and their outcome handlers. */
  settling(): Promise<unknown>[];
  readonly inFlight: number;
  /** The entries in flight, by run. */
  inFlightEntries(): { runId: string; id: string }[];
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

export interface Notifier {
  subscribe(fn: (u: RunUpdate) => void): () => void;
  publish(u: RunUpdate): void;
  /** Whether anyone listens: an update is only built when someone does. */
  readonly listening: boolean;
}

/** Watches what the engine does, for metrics (plugins/metrics.ts): called after the fact, never able to change it. */
export interface EngineObserver {
  lifecycle?(e: import('../core/lifecycle.ts').LifecycleEvent): void;
  /** A commit landed after `seconds` (the store's part: from the call to durable). */
  committed?(seconds: number): void;
  /** A trigger request was answered (`ok`: a 2xx) or failed, after `seconds`. */
  triggerSettled?(ok: boolean, seconds: number): void;
  /** A timer fired `latenessMs` after its due time (its commit made). */
  timerFired?(latenessMs: number): void;
  /** A completion webhook try ended. */
  notificationTried?(ok: boolean): void;
}

/** Listing: the store provides the read model (an in-process store from memory). */
export type { ListQuery, ReadModel, RunPage } from '../store/contract.ts';
