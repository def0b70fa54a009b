/**
 * The store contract: what the engine needs of wherever runs live, shaped so a database can serve it (rows, versions,
 * queries) and the embedded file store does too. The dependency points one way: engine → store.
 *
 * A run's every commit names the version it was made from; a store refuses any other (VersionConflictError). On one
 * node the engine's per-run lock already serialises commits, so a conflict there is a bug; with several nodes on one
 * database it is the fence that makes a transition exactly-once.
 */
import type { RunEventEntry, RunSummary, TimerRow } from '@tether/machine';
import type { RunList, RunListQuery } from '@tether/machine/protocol';
import type { OutboxEntry, RunDoc } from './types.ts';

export type { TimerRow } from '@tether/machine';

/** One commit of one run, as separate collections (a database writes rows; the file store writes `doc` whole). */
export interface RunChange {
  /** The run's whole new document; `doc.version` is the expected version + 1. */
  doc: RunDoc;
  summary: RunSummary;
  /** Log entries this commit adds at the end (a new run: all of them). */
  appended: RunEventEntry[];
  /** True when `appended[0]` replaces the previous last entry (a folded heartbeat or refusal) instead of following it. */
  replacedLast: boolean;
  /** The run's timers after the commit (absolute due times). */
  timers: TimerRow[];
  /** The run's outbox after the commit. */
  outbox: OutboxEntry[];
}

export interface CommitOptions {
  /** Refuse (RunTooLargeError, nothing written) a document whose JSON would exceed this many bytes. */
  maxBytes?: number;
}

/**
 * Listing: filtered, in `sort` (default newest first), paged by `cursor` (the previous page's nextCursor, made for the
 * same sort). The wire's RunListQuery, parsed: `limit` a number, the created range in epoch ms.
 */
export type ListQuery = Pick<RunListQuery, 'status' | 'name' | 'sort' | 'cursor' | 'derived'> & {
  /** The instant `derived` is decided at (overdue depends on it), epoch ms: the engine's clock. */
  now?: number;
  limit?: number;
  /** Runs created at or after this instant (epoch ms). */
  createdAfter?: number;
  /** Runs created before this instant (epoch ms). */
  createdBefore?: number;
};

/** A page of the list: the wire contract's RunList. */
export type RunPage = RunList;

/**
 * The engine's port for listing (sync: the routes ask it on every request). An in-process store serves it from memory;
 * a database store from a cache its notifications keep fresh.
 */
export interface ReadModel {
  get(runId: string): RunSummary | undefined;
  /** Records a committed summary (`creating`: a new run, appended in creation order). */
  put(summary: RunSummary, creating: boolean): void;
  /** Forgets a deleted run. */
  remove(runId: string): void;
  list(q: ListQuery): RunPage;
  /** Every summary, newest first. */
  all(): RunSummary[];
  /** The run created with this Idempotency-Key, if this read model knows it. */
  byIdempotencyKey(key: string): string | undefined;
  readonly count: number;
  /** Runs not final. */
  readonly openCount: number;
}

/** A committed timer of an open run, with the run's current attempt (for the restart's words). */
export interface DueTimer extends TimerRow {
  runId: string;
  attempt: number;
}

export interface OutboxRow {
  runId: string;
  entry: OutboxEntry;
}

/** A run whose document is missing or unreadable, as found: which file, and what is wrong with it. */
export interface DamagedRun {
  id: string;
  file: string;
  reason: string;
}

export interface OpenedStore {
  readModel: ReadModel;
  /** Runs whose document cannot be read: never dropped, never rewritten; the engine answers TETHER_RUN_DAMAGED for them. */
  damaged: DamagedRun[];
  /** Things opening could not do but did not need (an index compaction on a full disk…): logged by the engine. */
  warnings: string[];
}

export interface RunStore {
  /** Opens the store (locks, recovers what it must); before anything else. */
  open(): Promise<OpenedStore>;
  /** Commits `change` if the run is at `expectedVersion` (0: a new run). Durable once it resolves. */
  commit(runId: string, expectedVersion: number, change: RunChange, opts?: CommitOptions): Promise<void>;
  /**
   * Deletes a run if it is at `expectedVersion` (VersionConflictError otherwise, nothing deleted): its document, log,
   * timers and outbox; durable once it resolves, and safe across a crash mid-delete. The engine deletes final runs only.
   */
  delete(runId: string, expectedVersion: number): Promise<void>;
  /** The committed document (with its version), or null. CorruptRunFileError if it cannot be read. */
  get(runId: string): Promise<RunDoc | null>;
  exists(runId: string): Promise<boolean>;
  /** The run created with this Idempotency-Key (kept as long as the run), or null. */
  findByIdempotencyKey(key: string): Promise<string | null>;
  list(q: ListQuery): Promise<RunPage>;
  /** Timers of open runs due at or before `upTo`, earliest first, at most `limit`. */
  dueTimers(upTo: number, limit: number): Promise<DueTimer[]>;
  /** Outbox entries of open runs (triggers not yet answered), at most `limit`. */
  outbox(limit: number): Promise<OutboxRow[]>;
  /** After the last commit. */
  close(): Promise<void>;
}

/** A create whose Idempotency-Key another run holds already (another node created it first): nothing was written. */
export class IdempotencyKeyTakenError extends Error {
  readonly code = 'TETHER_IDEMPOTENCY_KEY_TAKEN';
  constructor(readonly key: string) {
    super(`Idempotency-Key ${JSON.stringify(key)} belongs to another run; nothing was written.`);
    this.name = 'IdempotencyKeyTakenError';
  }
}

/** A commit made from another version than the store's: nothing was written. */
export class VersionConflictError extends Error {
  readonly code = 'TETHER_VERSION_CONFLICT';
  constructor(
    readonly runId: string,
    readonly expected: number,
    readonly actual: number | null,
  ) {
    super(
      `Run ${runId}: commit from version ${expected}, but the store has ${actual === null ? 'no such run' : `version ${actual}`}; nothing was written.`,
    );
    this.name = 'VersionConflictError';
  }
}
