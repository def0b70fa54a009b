/** Messages between a crash test and its child engine (see child-engine.ts). */
import type { CallbackPayload, ResolvedRunConfig, Run, RunEvent, RunEventEntry } from '@tether/machine';
import type { LowdbStoreOptions } from '../../src/store/lowdb-store.ts';

/** How the child builds its store, and where it kills itself (SIGKILL, from inside: a crash at an exact point). */
export interface ChildStoreOptions extends Pick<
  LowdbStoreOptions,
  'dirtyBudgetBytes' | 'journalBudgetBytes' | 'writeBackIntervalMs' | 'writeBackBatch'
> {
  /** Die once this many batches of run files of write-backs are in place: after the renames, before the old segments go. */
  dieAfterRunFileBatches?: number;
}

type WithId<T> = T & { id: number };
type EventWithoutAt = RunEvent extends infer E ? (E extends RunEvent ? Omit<E, 'at'> : never) : never;

export type ChildCommand =
  | WithId<{
      op: 'start';
      dir: string;
      secret: string;
      publicUrl: string;
      fsync?: boolean;
      store?: ChildStoreOptions;
      /** The child's clock runs this far ahead of the wall clock: a restart "a minute later" without waiting a minute. */
      clockOffsetMs?: number;
    }>
  | WithId<{ op: 'create'; config: ResolvedRunConfig }>
  | WithId<{ op: 'callback'; runId: string; attemptId: string; payload: CallbackPayload }>
  | WithId<{ op: 'heartbeat'; runId: string; attemptId: string; progress?: unknown }>
  | WithId<{ op: 'dispatch'; runId: string; event: EventWithoutAt }>
  | WithId<{ op: 'get'; runId: string }>
  | WithId<{ op: 'idle' }>
  | WithId<{ op: 'writeBack' }>
  | WithId<{ op: 'stop' }>;

export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type ChildRequest = DistributiveOmit<ChildCommand, 'id'>;

export interface ChildUpdate {
  op: 'update';
  pid: number;
  /** Wall-clock ms in the child when the update was published (after the commit). */
  at: number;
  run: Run;
  events: RunEventEntry[];
}

/** A write-back of the child's store ended (every one, whoever started it: budget, interval or `writeBack`). */
export interface ChildWriteBack {
  op: 'writeBack';
  ok: boolean;
}

export type ChildMessage =
  | { op: 'ready'; pid: number }
  | ChildWriteBack
  | { op: 'reply'; id: number; ok: true; result: unknown }
  | { op: 'reply'; id: number; ok: false; error: string }
  | ChildUpdate;
