import type { RunEventEntry, RunInput, RunSummary, TimerRow } from '@tether/machine';
import type { CommitOptions, DamagedRun } from './contract.ts';

export type { CommitOptions, DamagedRun } from './contract.ts';

/** A trigger to send (at least once): removed in the same commit that records its outcome. */
export interface OutboxEntry {
  /** The attempt id: also the Idempotency-Key of the request. */
  id: string;
  kind: 'trigger';
  attemptId: string;
  number: number;
  /** When it was committed, epoch ms. */
  createdAt: number;
  /**
   * Sends as committed: 1 when the entry is created (that commit precedes its first send), +1 in each recovery
   * commit that precedes a re-send after a restart. A re-send after a failed outcome commit cannot be counted (the
   * store is failing) and is not.
   */
  sends: number;
}

/** Everything durable about one run, written as one document in one atomic write. */
export interface RunDoc {
  v: 1;
  id: string;
  /**
   * Commits of this run so far (0 before its first). A store refuses a commit made from another version than its own
   * (VersionConflictError): the fencing a database needs once several nodes may commit one run. Absent in documents
   * written before versions existed: read as 0.
   */
  version?: number;
  /** What the machine was started with: replaying `events` from here reproduces `snapshot`. */
  input: RunInput & { config: RunInput['config'] };
  rerunOf: string | null;
  /**
   * The caller's Idempotency-Key and a fingerprint (SHA-256) of the request it came with: a repeat with the same key
   * and fingerprint answers this run; the same key with another request is refused (422).
   */
  idempotency?: { key: string; fingerprint: string };
  /**
   * The completion webhook (config.notify) once the run is final: made pending by the final commit itself, so a crash
   * after it still delivers; times epoch ms.
   */
  notification?: {
    id: string;
    state: 'pending' | 'delivered' | 'failed';
    attempts: number;
    nextAt: number | null;
    lastStatus: number | null;
    lastError: string | null;
    deliveredAt: number | null;
  };
  /** XState persisted snapshot (value + context + status). */
  snapshot: PersistedRunSnapshot;
  timers: TimerRow[];
  outbox: OutboxEntry[];
  events: RunEventEntry[];
}

export interface PersistedRunSnapshot {
  status: string;
  value: unknown;
  context: import('@tether/machine').RunContext;
  [k: string]: unknown;
}

export interface LoadedStore {
  /**
   * Documents of the runs that are not final and were read at start-up: those the journal holds, those with a trigger
   * in flight, those the index cannot vouch for (no line, a line without a re-arm record, or `index.stale` present).
   */
  active: RunDoc[];
  /**
   * Runs that are not final whose documents were not read: what recovery needs to re-arm them, taken from the
   * checkpoint a clean shutdown left or, after a crash, from the index line of each run's last commit (index-line.ts).
   * Their documents are read on first use (a damaged file is found then, not at start-up). Runs with a trigger in
   * flight are never here; their documents are in `active`. The file store always returns it (empty if none).
   */
  pending?: PendingRun[];
  /** Summaries of every run (final ones included), for listing. Damaged runs are here when the index knew them. */
  summaries: RunSummary[];
  /**
   * Runs whose document cannot be read: the index knows them but their file is gone, or their file does not parse or
   * does not hold its run. Never dropped, never rewritten: the engine answers for them with TETHER_RUN_DAMAGED.
   */
  damaged?: DamagedRun[];
  /** Things the start-up could not do but did not need (an index compaction on a full disk…): logged by the engine. */
  warnings?: string[];
}

/** What recovery needs of a waiting run without reading its document: its committed timers and current attempt. */
export interface PendingRun {
  id: string;
  timers: TimerRow[];
  attempt: number;
}

/**
 * The embedded store's file layer (journal, run files, index, shutdown checkpoint): a commit writes one run (never all
 * of them) and is durable once it resolves. FileRunStore serves the store contract (contract.ts) over it; tests wrap
 * it to inject faults.
 */
export interface RunFiles {
  load(): Promise<LoadedStore>;
  /**
   * `maxBytes`: refuse (RunTooLargeError, nothing written) a document whose JSON would exceed it — the store is where it
   * is serialised, so this costs no second serialisation.
   */
  commit(doc: RunDoc, summary: RunSummary, opts?: CommitOptions): Promise<void>;
  read(runId: string): Promise<RunDoc | null>;
  /**
   * Deletes the run: a tombstone journaled (durable when this resolves) and indexed; the write-back then removes its
   * run file. Safe across a crash at any point: the tombstone wins over the file until the file is gone.
   */
  remove(runId: string): Promise<void>;
  /**
   * Optional. At a clean shutdown, after the last commit: records the pending work of every waiting run so the next
   * start need not read their documents. Must be the last write before close(); any later commit invalidates it.
   */
  checkpoint?(pending: PendingRun[]): Promise<void>;
  close(): Promise<void>;
  readonly dir: string;
}

/** A commit refused because the run's document would exceed its size cap: nothing was written. */
export class RunTooLargeError extends Error {
  readonly code = 'TETHER_RUN_TOO_LARGE';
  constructor(
    readonly runId: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`Run ${runId} would grow to ${bytes} bytes, over the limit of ${limit} (TETHER_MAX_RUN_BYTES); nothing was changed.`);
    this.name = 'RunTooLargeError';
  }
}

export class CorruptRunFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`Corrupt run file ${file}: ${reason}. Tether will not start until it is repaired or moved away; it was left untouched.`);
    this.name = 'CorruptRunFileError';
  }
}
