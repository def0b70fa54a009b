/**
 * The embedded store. A commit appends the run's whole document to a journal (group commit: one write, one fsync with
 * TETHER_FSYNC=1, for every commit of one event-loop turn); each run's own lowdb document is brought up to date later,
 * in the background, many runs at a time. A write costs O(that run) either way, never O(all runs) (lowdb rewrites its
 * whole document on every write: 2.8 s at 100k runs in one file).
 *
 *   <dataDir>/journal/<seq>.jsonl  one RunDoc per line, appended per commit; the newest line of a run wins (journal-files.ts)
 *   <dataDir>/runs/<runId>.json    the run's lowdb document as of the last checkpoint that included it
 *   <dataDir>/index.jsonl          one RunSummary line per commit, last line wins; compacted at start-up. An open
 *                                  run's line also carries its attempt, timers and outbox size (index-line.ts)
 *   <dataDir>/index.stale          present while the index may lag a run file (an index append failed)
 *
 * A run's truth is its newest journal line if there is one, else its run file. A write-back starts a new segment,
 * writes the newest document of every run the journal changed since the last one to its run file (temp + rename, on
 * a thread of its own), and only then deletes the older segments: at every moment each acknowledged document is in a
 * segment or in its run file. Write-backs run when the documents waiting for one exceed `dirtyBudgetBytes`, when the
 * journal exceeds `journalBudgetBytes`, every `writeBackIntervalMs`, and at a clean shutdown, which leaves the journal
 * empty. The store keeps only where each waiting document is in the journal (segment, offset, length): a read of such
 * a run reads its record back, and the write-back's thread copies the record's bytes from the segment into the run
 * file. Holding the documents' text instead cost up to the whole budget in heap (two bytes per character for any
 * text with a non-Latin-1 character in it), promoted to the old generation and copied to the thread (B3, B14).
 *
 * Why: a run file rewritten by temp + rename per commit cost ~200 µs of disk and kernel time per commit on ext4;
 * appending the same bytes costs ~5 µs, and a run that commits many times between checkpoints has its file written
 * once (docs/benchmarks.md, B1).
 *
 * The index line is appended after the journal write. A crash between the two leaves the index stale, never the run:
 * start-up reads the whole journal first, and the journal's document wins. A run the journal no longer holds was
 * written back, which only happens after its index line landed (with fsync: and was synced), or, if that append
 * failed, after `index.stale` was written (if even that cannot be written, no segment is removed for the rest of the
 * session). So after a crash start-up takes a waiting run's timers from its index line and reads its file only if the
 * line cannot say (a trigger in flight, an older line without them, `index.stale`), or the index does not know it.
 * A start that cannot rewrite a lagging index, and a read that finds a run file damaged, write `index.stale` too. A
 * damaged run's line never carries timers: whatever file a repair puts back is read.
 *
 *   <dataDir>/checkpoint.json      left by a clean shutdown only: the committed timers of every waiting run
 *
 * After a clean shutdown the journal is empty and the index complete, so start-up takes the waiting runs' summaries
 * from the index and their timers from the checkpoint, and reads none of their files: 100k waiting runs restart in
 * about a second (B5). The checkpoint is trusted only if the journal is empty and the index is byte-for-byte as long as
 * when it was written, and it is deleted before anything else is committed.
 */
import { Low } from 'lowdb';
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isFinalRunStatus, type RunSummary } from '@tether/machine';
import { summaryOf } from '../core/notify.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { DurableJSONFile, fsyncDir, writeFileAtomic } from './durable-file.ts';
import { indexEntryOf, indexLineOf, indexLineOfPending, pendingOf, type IndexEntry } from './index-line.ts';
import { JournalWriter } from './journal.ts';
import { checkDoc, isTombstone, journalDir, readJournal, segmentFile, tombstoneOf, type JournalSpot } from './journal-files.ts';
import { RunFileWriter } from './run-file-writer.ts';
import { silentStoreLogger, WriteBackError, WriteBackMonitor, type StoreLogger, type WriteBackHealth } from './write-back-health.ts';
import {
  CorruptRunFileError,
  RunTooLargeError,
  type CommitOptions,
  type DamagedRun,
  type LoadedStore,
  type PendingRun,
  type RunDoc,
  type RunFiles,
} from './types.ts';

/**
 * Compact on purpose (100k waiting runs → a few MB, parsed in tens of ms): timer keys and event types are a handful
 * of machine raise ids, stored once in `names` and referred to by index.
 */
interface Checkpoint {
  v: 2;
  /** Size of index.jsonl when the checkpoint was written: any later append makes the checkpoint stale. */
  indexBytes: number;
  names: string[];
  /** [runId, attempt, keyName, dueAt, eventTypeName, keyName, dueAt, eventTypeName, …] per waiting run. */
  runs: Array<Array<string | number>>;
}

function encodeCheckpoint(indexBytes: number, pending: PendingRun[]): Checkpoint {
  const names: string[] = [];
  const at = new Map<string, number>();
  const name = (s: string) => {
    let i = at.get(s);
    if (i === undefined) at.set(s, (i = names.push(s) - 1));
    return i;
  };
  const runs = pending.map((p) => [p.id, p.attempt, ...p.timers.flatMap((t) => [name(t.key), t.dueAt, name(t.eventType)])]);
  return { v: 2, indexBytes, names, runs };
}

/** Throws on anything malformed: the caller then ignores the checkpoint and reads every file. */
function decodeCheckpoint(c: Checkpoint): Map<string, PendingRun> {
  const out = new Map<string, PendingRun>();
  const name = (i: unknown) => {
    const n = typeof i === 'number' ? c.names[i] : undefined;
    if (typeof n !== 'string') throw new Error('bad name reference');
    return n;
  };
  for (const r of c.runs) {
    const [id, attempt] = r;
    if (typeof id !== 'string' || typeof attempt !== 'number' || (r.length - 2) % 3 !== 0) throw new Error('bad run entry');
    const timers: PendingRun['timers'] = [];
    for (let i = 2; i < r.length; i += 3) {
      const dueAt = r[i + 1];
      if (typeof dueAt !== 'number') throw new Error('bad due time');
      timers.push({ key: name(r[i]), dueAt, eventType: name(r[i + 2]) });
    }
    out.set(id, { id, attempt, timers });
  }
  return out;
}

const exists = (file: string): Promise<boolean> =>
  stat(file).then(
    () => true,
    () => false,
  );

/** Flushes a file another thread appends to (fsync covers the file's data whichever descriptor wrote it). */
async function fsyncFile(file: string): Promise<void> {
  const fd = await open(file, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

const RUN_FILE = /^(run_[A-Za-z0-9_-]+)\.json$/;
/** How a tombstone's line starts (tombstoneOf): a landed record is told a deletion by it. */
const TOMBSTONE_PREFIX = '{"deleted":true,';

/** A run whose run file is behind the journal: where its newest record is, and whether that record deletes it. */
interface Pending extends JournalSpot {
  deleted: boolean;
}
/** Dirty entries released per turn of the loop once a write-back has landed. */
const CLEANUP_SLICE = 4096;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
const RUN_ID = /^run_[A-Za-z0-9_-]+$/;
/** Present while index.jsonl may lag a run file: the next start trusts none of its re-arm records (markIndexStale). */
const STALE_MARKER = 'index.stale';

export interface LowdbStoreOptions {
  dir: string;
  /** fsync the journal (and run files and directories at write-back) before a commit resolves (TETHER_FSYNC=1). */
  fsync?: boolean;
  /**
   * Write back once the documents not yet in their run files exceed this many bytes (UTF-8, as in the journal; they
   * are not held in memory). Default 64 MiB.
   */
  dirtyBudgetBytes?: number;
  /** Write back once the current journal segment exceeds this many bytes. Default 128 MiB. */
  journalBudgetBytes?: number;
  /** Write back at least this often while anything is waiting for it, ms. Default 30 000; 0 turns the timer off. */
  writeBackIntervalMs?: number;
  /** Run files per message to the writer thread during a write-back. Default 256. */
  writeBackBatch?: number;
  /** Where write-back failures (and the recovery after them) are logged: nobody awaits a background write-back. */
  logger?: StoreLogger;
  /** The clock of `writeBackHealth`'s times, ms since the epoch. Default Date.now. */
  now?: () => number;
}

export class LowdbRunStore implements RunFiles {
  readonly dir: string;
  private readonly runsDir: string;
  private readonly indexFile: string;
  private readonly checkpointFile: string;
  private readonly fsync: boolean;
  private readonly dirtyBudget: number;
  private readonly journalBudget: number;
  private readonly writeBackIntervalMs: number;
  private readonly writeBackBatch: number;
  /** A commit or an index append failed this session: the index may lag, so no shutdown checkpoint is written. */
  private failed = false;
  /** `index.stale` is on disk (written once per session). */
  private indexStaleMarked = false;
  /** The index lags and the marker could not be written: journal segments are kept (see markIndexStale). */
  private keepSegments = false;
  private journal: JournalWriter | null = null;
  private files: RunFileWriter | null = null;
  /**
   * Every run whose run file is behind the journal, and where its newest record is. Reads of these runs read that
   * record; a write-back copies it into the run file (on the writer thread, from the segment). Only positions are
   * held here: the documents themselves stay on disk (in the page cache), not in this process's heap.
   */
  private readonly dirty = new Map<string, Pending>();
  /** UTF-8 bytes of the records in `dirty`: what the next write-back will copy. */
  private dirtyBytes = 0;
  /** Read-only descriptors of the segments `dirty` points into, opened on first read, closed with their segment. */
  private readonly segmentFds = new Map<number, number>();
  /** Journal segments on disk, ascending; the last is the one being appended to. */
  private segments: number[] = [];
  private writingBack: Promise<void> | null = null;
  /** Releases `<dataDir>/tether.lock` (data-dir-lock.ts), taken by load(). */
  private unlock: (() => Promise<void>) | null = null;
  private writeBackTimer: NodeJS.Timeout | null = null;
  /** Write-back failures: counted for /healthz, logged once per streak (write-back-health.ts). */
  private readonly writeBacks: WriteBackMonitor;

  constructor(opts: LowdbStoreOptions) {
    this.dir = opts.dir;
    this.runsDir = join(opts.dir, 'runs');
    this.indexFile = join(opts.dir, 'index.jsonl');
    this.checkpointFile = join(opts.dir, 'checkpoint.json');
    this.fsync = opts.fsync ?? false;
    this.dirtyBudget = opts.dirtyBudgetBytes ?? 64 * 1024 * 1024;
    this.journalBudget = opts.journalBudgetBytes ?? 128 * 1024 * 1024;
    this.writeBackIntervalMs = opts.writeBackIntervalMs ?? 30_000;
    this.writeBackBatch = Math.max(1, opts.writeBackBatch ?? 256);
    this.writeBacks = new WriteBackMonitor(opts.logger ?? silentStoreLogger, opts.now ?? Date.now);
  }

  /** How write-backs are doing (a copy): the newest failure while they fail, how many in a row, the last success. */
  get writeBackHealth(): WriteBackHealth {
    return this.writeBacks.health;
  }

  private runFile(runId: string): string {
    return join(this.runsDir, `${runId}.json`);
  }

  private db(runId: string): Low<RunDoc | null> {
    return new Low<RunDoc | null>(new DurableJSONFile<RunDoc | null>(this.runFile(runId), this.fsync), null);
  }

  async load(): Promise<LoadedStore> {
    await mkdir(this.runsDir, { recursive: true });
    this.unlock = await lockDataDir(this.dir);
    try {
      return await this.loadLocked();
    } catch (e) {
      // A start that fails (a corrupt file…) leaves the directory free for the next attempt.
      const unlock = this.unlock;
      this.unlock = null;
      await unlock();
      throw e;
    }
  }

  private async loadLocked(): Promise<LoadedStore> {
    await mkdir(journalDir(this.dir), { recursive: true });
    const names = await readdir(this.runsDir);
    // Temp files are writes that never committed: the rename is the commit point. The index compaction leaves its
    // own temp file in the data directory if the process dies mid-rewrite.
    const isTemp = (n: string) => n.startsWith('.') && n.includes('.tmp-');
    await Promise.all(names.filter(isTemp).map((n) => unlink(join(this.runsDir, n)).catch(() => {})));
    const staleMarker = join(this.dir, STALE_MARKER);
    const indexStale = await exists(staleMarker);
    this.indexStaleMarked = indexStale;
    const indexTemps = (await readdir(this.dir)).filter((n) => isTemp(n) && n.startsWith('.index.jsonl.'));
    await Promise.all(indexTemps.map((n) => unlink(join(this.dir, n)).catch(() => {})));
    const onDisk = new Set<string>();
    for (const n of names) {
      const m = RUN_FILE.exec(n);
      if (m) onDisk.add(m[1]!);
    }

    // The journal first: what it holds is newer than any run file, and a run file it covers is never read.
    const journaled = await readJournal(this.dir);
    // Deleted runs: their tombstone is newer than whatever their file or the index says.
    for (const id of journaled.deleted.keys()) onDisk.delete(id);
    const checkpoint = await this.takeCheckpoint();
    // A shutdown checkpoint describes the run files as they were with an empty journal; anything journaled since
    // (a commit after it, which cannot happen in a clean shutdown) makes it untrustworthy.
    const trusted = journaled.docs.size === 0 ? (checkpoint ?? new Map<string, PendingRun>()) : new Map<string, PendingRun>();
    const { entries: indexed, lines: indexLines, tombstones } = await this.readIndex();
    for (const id of journaled.deleted.keys()) indexed.delete(id);
    const summaries = new Map<string, RunSummary>();
    /** Index lines still true, kept as read: compaction writes them back without re-serialising 100k summaries. */
    const keptLines = new Map<string, string>();
    /** Index lines to write for runs whose line is rebuilt (read from a document, or given timers from a checkpoint). */
    const newLines = new Map<string, string>();
    const pending: PendingRun[] = [];
    const toRead: string[] = [];
    const active: RunDoc[] = [];
    // Index order first (creation order, as appended), then runs the index does not know: summaries come out nearly
    // sorted, which the engine's id list can then check instead of sorting.
    const order = new Set<string>();
    const damaged: DamagedRun[] = [];
    /** A damaged run's line whose re-arm record had to be dropped: the index must be rewritten. */
    let damagedLinesChanged = false;
    // A damaged run keeps its last known summary, but never a re-arm record: whatever file is put back in its place
    // (a repair, a backup) is the truth then, so every start reads it until it reads again.
    const keepDamaged = (id: string, hit: IndexEntry & { line: string }) => {
      if (hit.open) {
        newLines.set(id, indexLineOf(hit.summary, null));
        damagedLinesChanged = true;
      } else keptLines.set(id, hit.line);
    };
    for (const [id, hit] of indexed) {
      if (onDisk.has(id) || journaled.docs.has(id)) order.add(id);
      else {
        // The index (appended only after a commit landed) knows this run, and neither its file nor the journal holds
        // it: the file was deleted or lost. Reported, listed with its last known summary, never silently dropped.
        damaged.push({ id, file: this.runFile(id), reason: 'the file is missing' });
        summaries.set(id, hit.summary);
        keepDamaged(id, hit);
      }
    }
    for (const id of onDisk) order.add(id);
    for (const id of journaled.docs.keys()) order.add(id);
    for (const id of order) {
      const j = journaled.docs.get(id);
      if (j) {
        const summary = summaryOf(j.doc);
        summaries.set(id, summary);
        const open = !isFinalRunStatus(summary.status);
        newLines.set(id, indexLineOf(summary, open ? j.doc : null));
        if (open) active.push(j.doc);
        continue;
      }
      const hit = indexed.get(id);
      if (!hit) {
        toRead.push(id);
        continue;
      }
      const p = trusted.get(id);
      if (isFinalRunStatus(hit.summary.status)) {
        summaries.set(id, hit.summary);
        keptLines.set(id, hit.line);
      } else if (p) {
        summaries.set(id, hit.summary);
        if (hit.open) keptLines.set(id, hit.line);
        else newLines.set(id, indexLineOfPending(hit.summary, p));
        pending.push(p);
      } else if (!indexStale && hit.open && hit.open.outbox === 0) {
        // After a crash: the line of the run's last commit says what to re-arm (see the header); its file waits for first use.
        summaries.set(id, hit.summary);
        keptLines.set(id, hit.line);
        pending.push(pendingOf(id, hit.open));
      } else toRead.push(id);
    }

    for (const id of toRead) {
      let doc: RunDoc;
      try {
        doc = await this.readChecked(id);
      } catch (e) {
        if (!(e instanceof CorruptRunFileError)) throw e;
        // Quarantined, not fatal: every other run goes on. The file is left exactly as it is; its last known summary
        // (if the index has one) keeps it listed.
        damaged.push({ id, file: e.file, reason: e.reason });
        const hit = indexed.get(id);
        if (hit) {
          summaries.set(id, hit.summary);
          keepDamaged(id, hit);
        }
        continue;
      }
      const summary = summaryOf(doc);
      summaries.set(id, summary);
      const open = !isFinalRunStatus(summary.status);
      newLines.set(id, indexLineOf(summary, open ? doc : null));
      if (open) active.push(doc);
    }

    // Compact: one line per run, written atomically, then appended to from here on. Skipped when every summary came
    // from the index as it is and superseded lines are fewer than live ones (rewriting 40 MB for 100k runs at every
    // start would cost more than the lines it saves).
    // Deleted runs' lines (and their tombstones) go at the first start after: deleting frees the disk.
    const intact =
      !indexStale &&
      !damagedLinesChanged &&
      toRead.length === 0 &&
      journaled.docs.size === 0 &&
      journaled.deleted.size === 0 &&
      tombstones === 0 &&
      indexed.size === summaries.size;
    const warnings: string[] = [];
    if (!(intact && indexLines <= 2 * summaries.size)) {
      const lines = [...summaries.values()].map((s) => keptLines.get(s.id) ?? newLines.get(s.id)?.slice(0, -1) ?? JSON.stringify(s)).join('\n');
      try {
        await writeFileAtomic(this.indexFile, lines ? `${lines}\n` : '', this.fsync);
        // Rewritten from what was read just now: true again.
        if (indexStale) {
          await unlink(staleMarker);
          this.indexStaleMarked = false;
        }
      } catch (e) {
        // The index is derived: a start must not need free space to rewrite it before it can serve (a full disk would
        // then keep Tether down for good). Appends go on to the index as it is; last line still wins, and the next
        // start corrects it again. No shutdown checkpoint is trusted on top of it.
        this.failed = true;
        // Not rewritten, it may still lag what was just read (a journaled document, a file it did not know): once
        // the write-backs have emptied the journal, its old lines must not be trusted by the next start.
        if (!intact) this.markIndexStale();
        warnings.push(`index.jsonl not compacted (${(e as Error).message}); it is appended to as it is and corrected at the next start`);
      }
    }

    // What the journal holds still has to reach the run files: it waits for the next write-back like any commit
    // (a tombstone's write-back removes the run file).
    for (const [id, { at }] of journaled.docs) this.setDirty(id, { ...at, deleted: false });
    for (const [id, at] of journaled.deleted) this.setDirty(id, { ...at, deleted: true });
    // Appends go to a fresh segment: an old one may end in a torn record.
    const seq = (journaled.segments.at(-1) ?? 0) + 1;
    this.segments = [...journaled.segments, seq];
    const journal = (this.journal = new JournalWriter());
    journal.onLanded = (group, { seq, bounds }, indexFailed) => {
      for (let i = 0; i < group.length; i++) {
        const { runId, record } = group[i]!;
        const offset = bounds[i]!;
        this.setDirty(runId, { seq, offset, length: bounds[i + 1]! - 1 - offset, deleted: record.startsWith(TOMBSTONE_PREFIX) });
      }
      if (indexFailed) this.markIndexStale();
      this.maybeWriteBack();
    };
    await journal.open(segmentFile(this.dir, seq), seq, this.indexFile, this.fsync);
    this.files = new RunFileWriter(this.fsync);
    if (this.writeBackIntervalMs > 0) {
      this.writeBackTimer = setInterval(() => {
        // A failure is recorded and logged by writeBack itself; the next tick tries again.
        if (this.dirty.size || this.segmentsToRemove()) void this.writeBack().catch(() => {});
      }, this.writeBackIntervalMs);
      this.writeBackTimer.unref();
    }
    return {
      active,
      pending,
      summaries: [...summaries.values()],
      ...(damaged.length ? { damaged } : {}),
      ...(warnings.length ? { warnings } : {}),
    };
  }

  /**
   * An index append failed: from now on a run's line may be older than its file. Written synchronously, before the
   * group's documents become dirty, so no write-back can remove a journal segment (the only other place the newer
   * document is) before the next start knows not to trust the index.
   */
  private markIndexStale(): void {
    this.failed = true;
    // Without the marker the journal must keep what the index lacks: write-backs stop removing segments.
    if (!this.writeStaleMarker()) this.keepSegments = true;
  }

  /**
   * Writes `index.stale` (once a session, synchronously; with fsync, its name is synced too): the next start trusts no
   * index line's re-arm record. False if it could not be written.
   */
  private writeStaleMarker(): boolean {
    if (this.indexStaleMarked) return true;
    try {
      const fd = openSync(join(this.dir, STALE_MARKER), 'w');
      try {
        writeSync(fd, 'index.jsonl may lag the run files; the next start reads every waiting run file and rewrites the index\n');
        if (this.fsync) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (this.fsync) {
        const dirFd = openSync(this.dir, 'r');
        try {
          fsyncSync(dirFd);
        } finally {
          closeSync(dirFd);
        }
      }
      this.indexStaleMarked = true;
      return true;
    } catch {
      return false;
    }
  }

  private setDirty(runId: string, at: Pending): void {
    const was = this.dirty.get(runId);
    if (was !== undefined) this.dirtyBytes -= was.length;
    this.dirty.set(runId, at);
    this.dirtyBytes += at.length;
  }

  /** The text of a journal record, read back from its segment (synchronously: a few KB, from the page cache). */
  private readRecord(at: JournalSpot): string {
    let fd = this.segmentFds.get(at.seq);
    if (fd === undefined) this.segmentFds.set(at.seq, (fd = openSync(segmentFile(this.dir, at.seq), 'r')));
    const buf = Buffer.allocUnsafe(at.length);
    let got = 0;
    while (got < at.length) {
      const n = readSync(fd, buf, got, at.length - got, at.offset + got);
      if (n === 0) throw new Error(`${segmentFile(this.dir, at.seq)} ends before byte ${at.offset + at.length} (a record at ${at.offset})`);
      got += n;
    }
    return buf.toString('utf8');
  }

  private closeSegmentFd(seq: number): void {
    const fd = this.segmentFds.get(seq);
    if (fd === undefined) return;
    this.segmentFds.delete(seq);
    try {
      closeSync(fd);
    } catch {
      // Read-only: nothing depends on it.
    }
  }

  private maybeWriteBack(): void {
    if (this.writingBack) return;
    // A failure is recorded and logged by writeBack itself.
    if (this.dirtyBytes > this.dirtyBudget || (this.journal?.size ?? 0) > this.journalBudget) void this.writeBack().catch(() => {});
  }

  /**
   * Brings every run file up to its newest journaled document, then deletes the journal segments that held them.
   * One at a time; commits go on meanwhile (into a new segment). Rejects (a WriteBackError naming the files) if any run
   * file could not be written: the older segments then stay, and the next write-back tries again. Every outcome is
   * recorded here, whoever started it, for `writeBackHealth` and the log: the background callers only swallow it.
   */
  writeBack(): Promise<void> {
    return (this.writingBack ??= this.doWriteBack()
      .then(
        (ran) => {
          if (ran) this.writeBacks.succeeded();
        },
        (e: unknown) => {
          this.writeBacks.failed(e);
          throw e;
        },
      )
      .finally(() => {
        this.writingBack = null;
      }));
  }

  /** False if there was nothing to write back with (not loaded, or closed). */
  private async doWriteBack(): Promise<boolean> {
    const journal = this.journal;
    const files = this.files;
    if (!journal || !files) return false;
    // Every group posted before the rotation lands in the old segments and is answered (so it is in `dirty`) before
    // the rotation is; everything after lands in the new segment, which stays.
    const seq = this.segments.at(-1)! + 1;
    const next = segmentFile(this.dir, seq);
    try {
      await journal.rotate(next, seq);
    } catch (e) {
      throw new WriteBackError(`write-back: journal segment ${next} not started: ${(e as Error).message}`, [next]);
    }
    const old = this.segments;
    this.segments = [...old, seq];
    // Everything here is done a chunk at a time with the event loop let in between: a write-back of 64 MiB of
    // documents done in one go blocked the loop for ~100 ms under the B1 load (B7's profile), and each chunk's files
    // are written on the thread while the loop serves requests.
    const batch = [...this.dirty];
    const failures: Array<{ file: string; message: string }> = [];
    const deleted: string[] = [];
    for (let i = 0; i < batch.length; i += this.writeBackBatch) {
      const chunk: Array<{ file: string; from: { segment: string; offset: number; length: number } }> = [];
      for (const [id, at] of batch.slice(i, i + this.writeBackBatch)) {
        if (at.deleted) deleted.push(id);
        else chunk.push({ file: this.runFile(id), from: { segment: segmentFile(this.dir, at.seq), offset: at.offset, length: at.length } });
      }
      if (chunk.length) failures.push(...(await files.writeAll(chunk)));
      else await yieldToLoop();
    }
    // Deleted runs: their file goes before the segments holding their tombstone do.
    for (const id of deleted) {
      await unlink(this.runFile(id)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') failures.push({ file: this.runFile(id), message: e.message });
      });
    }
    if (failures.length) {
      throw new WriteBackError(
        `write-back: ${failures.length} run file(s) not written, e.g. ${failures[0]!.file}: ${failures[0]!.message}`,
        failures.map((f) => f.file),
      );
    }
    // The index lines of every document just written back are appended (before their commits resolved), but with
    // fsync only a synced index survives a power loss: once the segments go, a lost line would be trusted in its
    // older version (index-line.ts).
    if (this.fsync && !this.keepSegments) {
      await fsyncFile(this.indexFile).catch((e: Error) => {
        throw new WriteBackError(`write-back: index.jsonl not synced: ${e.message}`, [this.indexFile]);
      });
    }
    // Every run file is written: reads of these runs go to them from here on. A run that committed again meanwhile
    // stays: its newer record is in the new segment, not yet in its file. Before the segments go, since a run still
    // listed here is read from its old segment.
    for (let i = 0; i < batch.length; i++) {
      const [id, at] = batch[i]!;
      if (this.dirty.get(id) === at) {
        this.dirty.delete(id);
        this.dirtyBytes -= at.length;
      }
      if (i % CLEANUP_SLICE === CLEANUP_SLICE - 1) await yieldToLoop();
    }
    // The index lags and no marker says so: the journal is the only record of what it lacks, and keeps every segment.
    if (!this.keepSegments) await this.removeSegments(old);
    return true;
  }

  /** Segments a write-back would remove: every one but the current, unless they are kept (markIndexStale). */
  private segmentsToRemove(): boolean {
    return this.segments.length > 1 && !this.keepSegments;
  }

  private async removeSegments(old: number[]): Promise<void> {
    for (const s of old) {
      const file = segmentFile(this.dir, s);
      this.closeSegmentFd(s);
      await unlink(file).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw new WriteBackError(`write-back: run files written, journal segment ${file} not removed: ${e.message}`, [file]);
      });
    }
    if (this.fsync) {
      await fsyncDir(journalDir(this.dir)).catch((e: Error) => {
        throw new WriteBackError(`write-back: journal directory not synced: ${e.message}`, [journalDir(this.dir)]);
      });
    }
    this.segments = this.segments.filter((s) => !old.includes(s));
  }

  /**
   * Reads and removes the clean-shutdown checkpoint. Null if there is none, or if it is stale or unreadable (then
   * every non-final run file is read, as after a crash: a checkpoint only ever saves work, it never decides).
   */
  private async takeCheckpoint(): Promise<Map<string, PendingRun> | null> {
    const none = null;
    let text: string;
    try {
      text = await readFile(this.checkpointFile, 'utf8');
    } catch {
      return none;
    }
    // Gone before anything else is committed: a crash from here on must not find it.
    await unlink(this.checkpointFile);
    if (this.fsync) await fsyncDir(this.dir);
    try {
      const c = JSON.parse(text) as Checkpoint;
      const indexBytes = await stat(this.indexFile).then(
        (s) => s.size,
        () => -1,
      );
      if (c.v !== 2 || !Array.isArray(c.runs) || !Array.isArray(c.names) || c.indexBytes !== indexBytes) return none;
      return decodeCheckpoint(c);
    } catch {
      return none;
    }
  }

  /** Writes every run file up to date and empties the journal; then, if nothing failed, the shutdown checkpoint. */
  async checkpoint(pending: PendingRun[]): Promise<void> {
    if (!this.journal) return;
    await this.settle();
    if (this.failed) return;
    const indexBytes = (await stat(this.indexFile)).size;
    await writeFileAtomic(this.checkpointFile, JSON.stringify(encodeCheckpoint(indexBytes, pending)), this.fsync);
  }

  /**
   * Waits for every commit so far, then writes back until the journal holds nothing (a write-back in progress may
   * have started before the last commits). A failure marks the store failed (no shutdown checkpoint) and is left to
   * the journal: nothing is lost, the next start reads it. writeBack has logged it (if it began a streak).
   */
  private async settle(): Promise<void> {
    const journal = this.journal;
    if (!journal) return;
    await journal.drain();
    try {
      await this.writingBack?.catch(() => {});
      if (this.dirty.size || this.segmentsToRemove()) await this.writeBack();
    } catch {
      this.failed = true;
    }
  }

  /** Last line per run wins. Empty if the index is missing or damaged anywhere: it is derived; run files decide. */
  private async readIndex(): Promise<{ entries: Map<string, IndexEntry & { line: string }>; lines: number; tombstones: number }> {
    const out = new Map<string, IndexEntry & { line: string }>();
    let text: string;
    try {
      text = await readFile(this.indexFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entries: out, lines: 0, tombstones: 0 };
      throw e;
    }
    if (text.length && !text.endsWith('\n')) return { entries: out, lines: 0, tombstones: 0 }; // a torn last line (crash mid-append)
    const lines = text.split('\n').filter(Boolean);
    let parsed: unknown[];
    try {
      // One parse of the whole index is several times faster than 100k parses of one line each.
      parsed = JSON.parse(`[${lines.join(',')}]`) as unknown[];
      if (parsed.length !== lines.length) throw new Error('a line holds more than one value');
    } catch {
      // Damage somewhere.
      return { entries: out, lines: 0, tombstones: 0 };
    }
    let tombstones = 0;
    parsed.forEach((s, i) => {
      const id = (s as { id?: unknown } | null)?.id;
      if (isTombstone(s)) {
        out.delete(s.id);
        tombstones++;
      } else if (typeof id === 'string') out.set(id, { ...indexEntryOf(s as Record<string, unknown>), line: lines[i]! });
    });
    return { entries: out, lines: lines.length, tombstones };
  }

  private async readChecked(runId: string): Promise<RunDoc> {
    const file = this.runFile(runId);
    const db = this.db(runId);
    await db.read();
    const doc: unknown = db.data;
    checkDoc(doc, file, runId);
    return doc;
  }

  async read(runId: string): Promise<RunDoc | null> {
    if (!RUN_ID.test(runId)) return null;
    const at = this.dirty.get(runId);
    if (at !== undefined) return at.deleted ? null : (JSON.parse(this.readRecord(at)) as RunDoc);
    try {
      return await this.readChecked(runId);
    } catch (e) {
      if (!(e instanceof CorruptRunFileError)) throw e;
      // No file: no such run. A file holding `null` is a damaged one (as start-up finds it).
      if (e.reason === 'empty document' && !(await exists(e.file))) return null;
      // Found damaged only now (a run re-armed from its index line): the next start reads every waiting file, so it is
      // quarantined there and its line loses its re-arm record; the file a repair puts back is then read, not the line.
      this.writeStaleMarker();
      throw e;
    }
  }

  /**
   * Appends the run's document to the journal and its summary to the index, in this turn's group; resolves once the
   * document is on disk (synced with fsync on). Rejects, with nothing of it left in the journal, if it could not be.
   */
  async commit(doc: RunDoc, summary: RunSummary, opts: CommitOptions = {}): Promise<void> {
    const journal = this.journal;
    if (!journal) throw new Error('the store is not loaded: call load() before commit()');
    // Flat, without its newline (the journal adds it): this exact string is kept as the run's pending write-back text
    // and read cache. `${json}\n` is a cons string, and every later startsWith / parse / postMessage of it flattened a
    // copy: 10k such copies made at once in a write-back were most of a 150 ms GC pause (B7's profile).
    const record = JSON.stringify(doc);
    const limit = opts.maxBytes;
    // A UTF-16 unit is at most 3 UTF-8 bytes: only a record near the limit pays for counting its bytes.
    if (limit !== undefined && record.length * 3 > limit) {
      const bytes = Buffer.byteLength(record, 'utf8');
      if (bytes > limit) throw new RunTooLargeError(doc.id, bytes, limit);
    }
    try {
      await journal.append(doc.id, record, indexLineOf(summary, isFinalRunStatus(summary.status) ? null : doc));
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  async remove(runId: string): Promise<void> {
    const journal = this.journal;
    if (!journal) throw new Error('the store is not loaded: call load() before remove()');
    const tombstone = tombstoneOf(runId);
    try {
      await journal.append(runId, tombstone, `${tombstone}\n`);
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  /** Writes back what the journal holds (so the next start reads no journal) and stops the writer threads. */
  async close(): Promise<void> {
    const journal = this.journal;
    if (!journal) return;
    if (this.writeBackTimer) clearInterval(this.writeBackTimer);
    this.writeBackTimer = null;
    await this.settle();
    this.journal = null;
    await journal.close();
    // The segment left after a full write-back is empty: remove it, so a clean stop leaves no journal at all.
    if (this.dirty.size === 0 && this.segments.length === 1) {
      await unlink(segmentFile(this.dir, this.segments[0]!)).catch(() => {});
    }
    for (const seq of [...this.segmentFds.keys()]) this.closeSegmentFd(seq);
    const files = this.files;
    this.files = null;
    await files?.close();
    const unlock = this.unlock;
    this.unlock = null;
    await unlock?.();
  }
}
