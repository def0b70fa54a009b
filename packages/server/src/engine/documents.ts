/**
 * Where the shell gets a run's committed document: the most recently used ones in memory (a bounded cache), the rest
 * from the store, read when an event arrives. Two exceptions are kept here too: a document pinned after a failed
 * commit (the store may have written a record that was never acknowledged: the next event starts from the last
 * acknowledged document, whatever the disk holds), and quarantined runs (missing or unreadable document).
 */
import { CorruptRunFileError, type RunDoc } from '../store/types.ts';
import type { RunStore } from '../store/contract.ts';
import { DocCache } from './doc-cache.ts';
import { RunDamagedError, type DamagedRunInfo } from './errors.ts';

export class RunDocuments {
  private readonly cache: DocCache;
  private readonly pinned = new Map<string, RunDoc>();
  private readonly damaged = new Map<string, DamagedRunInfo>();

  constructor(
    private readonly store: RunStore,
    cacheSize: number,
    private readonly now: () => number,
    private readonly onDamaged: (d: DamagedRunInfo) => void,
  ) {
    this.cache = new DocCache(cacheSize);
  }

  /** Outside the run's lock: a read from disk never enters the cache (it could be stale by the time it lands). */
  async peek(runId: string): Promise<RunDoc> {
    return this.pinned.get(runId) ?? this.cache.peek(runId) ?? (await this.read(runId));
  }

  /** Inside the run's lock: nothing else can commit this run meanwhile, so it may be cached. */
  async load(runId: string): Promise<RunDoc> {
    const held = this.pinned.get(runId) ?? this.cache.get(runId);
    if (held) return held;
    const doc = await this.read(runId);
    this.cache.set(runId, doc);
    return doc;
  }

  committed(doc: RunDoc): void {
    this.pinned.delete(doc.id);
    this.cache.set(doc.id, doc);
  }

  /** Drops what is held of the run: another node committed it, so the store's copy is the one to read. */
  forget(runId: string): void {
    this.pinned.delete(runId);
    this.cache.delete(runId);
  }

  /** A commit of `runId` failed after the store may have written it: the next event starts from `acknowledged`. */
  pin(acknowledged: RunDoc): void {
    this.pinned.set(acknowledged.id, acknowledged);
  }

  isPinned(runId: string): boolean {
    return this.pinned.has(runId);
  }

  isDamaged(runId: string): boolean {
    return this.damaged.has(runId);
  }

  damagedRuns(): DamagedRunInfo[] {
    return [...this.damaged.values()];
  }

  /** Quarantines the run (once; logged by onDamaged) and returns the error to answer with. */
  quarantine(runId: string, file: string, reason: string): RunDamagedError {
    if (!this.damaged.has(runId)) {
      const d = { runId, file, reason, since: this.now() };
      this.damaged.set(runId, d);
      this.onDamaged(d);
    }
    return new RunDamagedError(runId, file, reason);
  }

  private async read(runId: string): Promise<RunDoc> {
    const known = this.damaged.get(runId);
    if (known) throw new RunDamagedError(runId, known.file, known.reason);
    let doc: RunDoc | null;
    try {
      doc = await this.store.get(runId);
    } catch (e) {
      if (e instanceof CorruptRunFileError) throw this.quarantine(runId, e.file, e.reason);
      throw e;
    }
    // Listed (the index knew it) but no document: its file went away after start-up.
    if (!doc) throw this.quarantine(runId, `run ${runId}`, 'the document is missing');
    return doc;
  }
}
