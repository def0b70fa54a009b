import type { RunEventEntry, RunInput, RunSummary } from '@tether/machine';
import type { TimerEntry } from '../engine/timer-service.ts';

/** A trigger to send (at least once): removed in the same commit that records its outcome. */
export interface OutboxEntry {
  /** The attempt id: also the Idempotency-Key of the request. */
  id: string;
  kind: 'trigger';
  attemptId: string;
  number: number;
  /** When it was committed, epoch ms. */
  createdAt: number;
  /** How many times it was sent (re-sends after restart count). */
  sends: number;
}

/** Everything durable about one run, written as one document in one atomic write. */
export interface RunDoc {
  v: 1;
  id: string;
  /** What the machine was started with: replaying `events` from here reproduces `snapshot`. */
  input: RunInput & { config: RunInput['config'] };
  rerunOf: string | null;
  /** XState persisted snapshot (value + context + status). */
  snapshot: PersistedRunSnapshot;
  timers: Omit<TimerEntry, 'runId'>[];
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
  /** Documents of every run that is not final. */
  active: RunDoc[];
  /** Summaries of every run (final ones included), for listing. */
  summaries: RunSummary[];
}

/**
 * Where runs live. A commit writes one run (never all of them) and is durable once it resolves.
 */
export interface RunStore {
  load(): Promise<LoadedStore>;
  commit(doc: RunDoc, summary: RunSummary): Promise<void>;
  read(runId: string): Promise<RunDoc | null>;
  close(): Promise<void>;
  readonly dir: string;
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
