/**
 * The embedded default store, zero setup: the store contract (contract.ts) over the file layer (lowdb-store.ts: a
 * journal appended per commit, one lowdb document per run written back in the background, an index, a shutdown
 * checkpoint). What the contract asks that files cannot answer cheaply is kept here in memory: every run's summary
 * (the read model), the committed timers and outbox of every open run, and the version of every run seen this session.
 * The clean-shutdown checkpoint is this store's own business: close() writes it from the committed timers.
 */
import { isFinalRunStatus, type RunSummary } from '@tether/machine';
import type { CommitOptions, DamagedRun, DueTimer, ListQuery, OpenedStore, OutboxRow, RunChange, RunPage, RunStore, TimerRow } from './contract.ts';
import { VersionConflictError } from './contract.ts';
import { MemoryReadModel } from './memory-read-model.ts';
import { CorruptRunFileError, RunTooLargeError, type OutboxEntry, type PendingRun, type RunDoc, type RunFiles } from './types.ts';

export class FileRunStore implements RunStore {
  private readModel = new MemoryReadModel();
  /** Versions of the runs read or committed this session: a commit must come from the one it was read at. */
  private readonly versions = new Map<string, number>();
  /** Committed timers and current attempt of every open run (final runs leave). */
  private readonly openRuns = new Map<string, { attempt: number; timers: TimerRow[] }>();
  /** Committed outbox of every open run that has one. */
  private readonly outboxes = new Map<string, OutboxEntry[]>();
  private readonly damaged = new Set<string>();
  /**
   * Runs with a commit in flight, and the version it will make. Claimed synchronously, before the append is awaited:
   * any other commit of the run issued meanwhile (the same tick, or while the journal writes) is refused, instead of
   * passing the version check too and landing on top of it. Released when the commit settles, either way.
   */
  private readonly committing = new Map<string, number>();
  /** A commit failed this session: the committed state may be ahead of what memory says, so no shutdown checkpoint. */
  private failed = false;

  constructor(readonly files: RunFiles) {}

  /** The data directory (for logs and tests). */
  get dir(): string {
    return this.files.dir;
  }

  async open(): Promise<OpenedStore> {
    const loaded = await this.files.load();
    this.readModel = new MemoryReadModel(loaded.summaries);
    const damaged: DamagedRun[] = loaded.damaged ?? [];
    for (const d of damaged) this.damaged.add(d.id);
    for (const doc of loaded.active) {
      const attempts = doc.snapshot.context.attempts;
      this.versions.set(doc.id, doc.version ?? 0);
      this.openRuns.set(doc.id, { attempt: attempts[attempts.length - 1]?.number ?? 0, timers: doc.timers });
      if (doc.outbox.length) this.outboxes.set(doc.id, doc.outbox);
    }
    for (const p of loaded.pending ?? []) this.openRuns.set(p.id, { attempt: p.attempt, timers: p.timers });
    return { readModel: this.readModel, damaged, warnings: loaded.warnings ?? [] };
  }

  async commit(runId: string, expectedVersion: number, change: RunChange, opts?: CommitOptions): Promise<void> {
    const listed = this.readModel.get(runId) !== undefined;
    const known = this.versions.get(runId);
    const inFlight = this.committing.has(runId);
    const creating = expectedVersion === 0 && !listed && known === undefined && !inFlight;
    const current = creating ? 0 : known;
    // Unknown: never read this session. The engine always reads a run before committing it, so that is a bug — refuse.
    if (inFlight || current !== expectedVersion || (change.doc.version ?? 0) !== expectedVersion + 1 || change.doc.id !== runId) {
      throw new VersionConflictError(runId, expectedVersion, this.committing.get(runId) ?? current ?? (listed ? -1 : null));
    }
    this.committing.set(runId, expectedVersion + 1);
    try {
      await this.files.commit(change.doc, change.summary, opts);
    } catch (e) {
      if (!(e instanceof RunTooLargeError)) this.failed = true;
      throw e;
    } finally {
      this.committing.delete(runId);
    }
    this.versions.set(runId, expectedVersion + 1);
    this.readModel.put(change.summary, creating);
    if (isFinalRunStatus(change.summary.status)) {
      this.openRuns.delete(runId);
      this.outboxes.delete(runId);
      return;
    }
    this.openRuns.set(runId, { attempt: change.summary.attempt, timers: change.timers });
    if (change.outbox.length) this.outboxes.set(runId, change.outbox);
    else this.outboxes.delete(runId);
  }

  async delete(runId: string, expectedVersion: number): Promise<void> {
    const current = this.versions.get(runId);
    if (this.committing.has(runId) || current !== expectedVersion) throw new VersionConflictError(runId, expectedVersion, current ?? null);
    this.committing.set(runId, expectedVersion);
    try {
      await this.files.remove(runId);
    } catch (e) {
      this.failed = true;
      throw e;
    } finally {
      this.committing.delete(runId);
    }
    this.versions.delete(runId);
    this.openRuns.delete(runId);
    this.outboxes.delete(runId);
    this.readModel.remove(runId);
  }

  async get(runId: string): Promise<RunDoc | null> {
    let doc: RunDoc | null;
    try {
      doc = await this.files.read(runId);
    } catch (e) {
      if (e instanceof CorruptRunFileError) this.damaged.add(runId);
      throw e;
    }
    // Only forward: a read that began before a commit landed may return the document before it, and must not make
    // the store accept a commit from that older version (or refuse the one from the version just committed).
    if (doc) {
      const version = doc.version ?? 0;
      if (!((this.versions.get(runId) ?? -1) > version)) this.versions.set(runId, version);
    } else if (this.readModel.get(runId)) this.damaged.add(runId); // listed, but its document is gone
    return doc;
  }

  async exists(runId: string): Promise<boolean> {
    return this.readModel.get(runId) !== undefined;
  }

  async findByIdempotencyKey(key: string): Promise<string | null> {
    return this.readModel.byIdempotencyKey(key) ?? null;
  }

  async list(q: ListQuery): Promise<RunPage> {
    return this.readModel.list(q);
  }

  async dueTimers(upTo: number, limit: number): Promise<DueTimer[]> {
    const out: DueTimer[] = [];
    for (const [runId, { attempt, timers }] of this.openRuns) for (const t of timers) if (t.dueAt <= upTo) out.push({ ...t, runId, attempt });
    out.sort((a, b) => a.dueAt - b.dueAt);
    return Number.isFinite(limit) ? out.slice(0, limit) : out;
  }

  async outbox(limit: number): Promise<OutboxRow[]> {
    const out: OutboxRow[] = [];
    for (const [runId, entries] of this.outboxes) {
      for (const entry of entries) {
        if (out.length >= limit) return out;
        out.push({ runId, entry });
      }
    }
    return out;
  }

  /**
   * Leaves a shutdown checkpoint (every waiting run's committed timers: the next start reads none of their files) when
   * nothing failed this session, then closes the files. Runs with a trigger in flight and damaged runs are left out:
   * the next start reads their files (the index line of the first says a trigger is in flight; a damaged file found
   * this session left `index.stale`, see lowdb-store.ts).
   */
  async close(): Promise<void> {
    if (!this.failed && this.files.checkpoint) {
      const pending: PendingRun[] = [];
      for (const s of this.readModel.all().reverse()) {
        const o = this.openRuns.get(s.id);
        if (!o || isFinalRunStatus(s.status) || this.outboxes.has(s.id) || this.damaged.has(s.id)) continue;
        pending.push({ id: s.id, attempt: o.attempt, timers: o.timers });
      }
      await this.files.checkpoint(pending).catch(() => {
        /* best effort: without it the next start reads every waiting run's file, as after a crash */
      });
    }
    await this.files.close();
  }

  /** Summaries as the read model has them (tests). */
  summaries(): RunSummary[] {
    return this.readModel.all();
  }
}
