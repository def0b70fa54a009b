/**
 * The embedded store: one lowdb document per run, so a commit rewrites only that run (lowdb rewrites its whole
 * document on every write: 2.8 s at 100k runs in one file). Listing comes from an append-only summary index.
 *
 *   <dataDir>/runs/<runId>.json   the run: input, snapshot, timers, outbox, event log  (source of truth)
 *   <dataDir>/index.jsonl         one RunSummary line per commit, last line wins; compacted at start-up
 *
 * The run file is written first; the index line after. A crash between the two leaves the index stale, never the run:
 * start-up reads every run file the index does not show as final (and every file it does not know), and corrects it.
 *
 *   <dataDir>/checkpoint.json     left by a clean shutdown only: the committed timers of every waiting run
 *
 * After a clean shutdown the index is complete (every commit's line was appended before close), so start-up takes the
 * waiting runs' summaries from it and their timers from the checkpoint, and reads none of their files: 100k waiting
 * runs restart in about a second instead of several (B5 in docs/benchmarks.md). The checkpoint is trusted only if the
 * index is byte-for-byte as long as when it was written, and it is deleted before anything else is committed; after a
 * crash there is none, and every non-final run file is read as before.
 */
import { Low } from 'lowdb';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isFinalRunStatus, toRunSummary, type RunSummary } from '@tether/machine';
import { CommitWriter } from './commit-writer.ts';
import { DurableJSONFile, fsyncDir, writeFileAtomic } from './durable-file.ts';
import { CorruptRunFileError, type LoadedStore, type PendingRun, type RunDoc, type RunStore } from './types.ts';

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

const RUN_FILE = /^(run_[A-Za-z0-9_-]+)\.json$/;

export interface LowdbStoreOptions {
  dir: string;
  /** fsync file and directory before a commit resolves (TETHER_FSYNC=1). */
  fsync?: boolean;
}

export class LowdbRunStore implements RunStore {
  readonly dir: string;
  private readonly runsDir: string;
  private readonly indexFile: string;
  private readonly checkpointFile: string;
  private readonly fsync: boolean;
  /** A commit failed this session: the index may lag a run file, so no checkpoint is written. */
  private failed = false;
  /** Group commit: run files and index lines are written by one writer thread (see commit-writer.ts). */
  private writer: CommitWriter | null = null;
  private indexOpen = false;

  constructor(opts: LowdbStoreOptions) {
    this.dir = opts.dir;
    this.runsDir = join(opts.dir, 'runs');
    this.indexFile = join(opts.dir, 'index.jsonl');
    this.checkpointFile = join(opts.dir, 'checkpoint.json');
    this.fsync = opts.fsync ?? false;
  }

  private runFile(runId: string): string {
    return join(this.runsDir, `${runId}.json`);
  }

  private db(runId: string, indexLine: string | null = null): Low<RunDoc | null> {
    const writer = indexLine === null ? null : this.commitWriter();
    return new Low<RunDoc | null>(new DurableJSONFile<RunDoc | null>(this.runFile(runId), this.fsync, writer, indexLine), null);
  }

  private commitWriter(): CommitWriter {
    return (this.writer ??= new CommitWriter(this.fsync));
  }

  async load(): Promise<LoadedStore> {
    await mkdir(this.runsDir, { recursive: true });
    const names = await readdir(this.runsDir);
    // Temp files are writes that never committed: the rename is the commit point. The index compaction leaves its
    // own temp file in the data directory if the process dies mid-rewrite.
    const isTemp = (n: string) => n.startsWith('.') && n.includes('.tmp-');
    await Promise.all(names.filter(isTemp).map((n) => unlink(join(this.runsDir, n)).catch(() => {})));
    const indexTemps = (await readdir(this.dir)).filter((n) => isTemp(n) && n.startsWith('.index.jsonl.'));
    await Promise.all(indexTemps.map((n) => unlink(join(this.dir, n)).catch(() => {})));
    const onDisk = new Set<string>();
    for (const n of names) {
      const m = RUN_FILE.exec(n);
      if (m) onDisk.add(m[1]!);
    }

    const checkpoint = await this.takeCheckpoint();
    const trusted = checkpoint ?? new Map<string, PendingRun>();
    const { entries: indexed, lines: indexLines } = await this.readIndex();
    const summaries = new Map<string, RunSummary>();
    /** Index lines still true, kept as read: compaction writes them back without re-serialising 100k summaries. */
    const keptLines = new Map<string, string>();
    const pending: PendingRun[] = [];
    const toRead: string[] = [];
    // Index order first (creation order, as appended), then files the index does not know: summaries come out nearly
    // sorted, which the engine's id list can then check instead of sorting.
    const order = new Set<string>();
    for (const id of indexed.keys()) if (onDisk.has(id)) order.add(id);
    for (const id of onDisk) order.add(id);
    for (const id of order) {
      const hit = indexed.get(id);
      const p = trusted.get(id);
      if (hit && (isFinalRunStatus(hit.summary.status) || p)) {
        summaries.set(id, hit.summary);
        keptLines.set(id, hit.line);
        if (p && !isFinalRunStatus(hit.summary.status)) pending.push(p);
      } else toRead.push(id);
    }

    const active: RunDoc[] = [];
    for (const id of toRead) {
      const doc = await this.readChecked(id);
      const summary = toRunSummary(doc.snapshot);
      summaries.set(id, summary);
      if (!isFinalRunStatus(summary.status)) active.push(doc);
    }

    // Compact: one line per run, written atomically, then appended to from here on. Skipped when every summary came
    // from the index as it is and superseded lines are fewer than live ones (rewriting 40 MB for 100k runs at every
    // start would cost more than the lines it saves).
    const intact = toRead.length === 0 && indexed.size === summaries.size;
    if (!(intact && indexLines <= 2 * summaries.size)) {
      const lines = [...summaries.values()].map((s) => keptLines.get(s.id) ?? JSON.stringify(s)).join('\n');
      await writeFileAtomic(this.indexFile, lines ? `${lines}\n` : '', this.fsync);
    }
    await this.commitWriter().openIndex(this.indexFile);
    this.indexOpen = true;
    return { active, ...(checkpoint ? { pending } : {}), summaries: [...summaries.values()] };
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
      const indexBytes = await stat(this.indexFile).then((s) => s.size, () => -1);
      if (c.v !== 2 || !Array.isArray(c.runs) || !Array.isArray(c.names) || c.indexBytes !== indexBytes) return none;
      return decodeCheckpoint(c);
    } catch {
      return none;
    }
  }

  async checkpoint(pending: PendingRun[]): Promise<void> {
    const w = this.writer;
    if (!this.indexOpen || !w) return;
    await w.drain();
    if (this.failed) return;
    const indexBytes = (await stat(this.indexFile)).size;
    await writeFileAtomic(this.checkpointFile, JSON.stringify(encodeCheckpoint(indexBytes, pending)), this.fsync);
  }

  /** Last line per run wins. Empty if the index is missing or damaged anywhere: it is derived; run files decide. */
  private async readIndex(): Promise<{ entries: Map<string, { summary: RunSummary; line: string }>; lines: number }> {
    const out = new Map<string, { summary: RunSummary; line: string }>();
    let text: string;
    try {
      text = await readFile(this.indexFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entries: out, lines: 0 };
      throw e;
    }
    if (text.length && !text.endsWith('\n')) return { entries: out, lines: 0 }; // a torn last line (crash mid-append)
    const lines = text.split('\n').filter(Boolean);
    let parsed: unknown[];
    try {
      // One parse of the whole index is several times faster than 100k parses of one line each.
      parsed = JSON.parse(`[${lines.join(',')}]`) as unknown[];
      if (parsed.length !== lines.length) throw new Error('a line holds more than one value');
    } catch {
      // Damage somewhere.
      return { entries: out, lines: 0 };
    }
    parsed.forEach((s, i) => {
      const id = (s as { id?: unknown } | null)?.id;
      if (typeof id === 'string') out.set(id, { summary: s as RunSummary, line: lines[i]! });
    });
    return { entries: out, lines: lines.length };
  }


  private async readChecked(runId: string): Promise<RunDoc> {
    const file = this.runFile(runId);
    const db = this.db(runId);
    await db.read();
    const doc = db.data;
    if (!doc) throw new CorruptRunFileError(file, 'empty document');
    if (doc.v !== 1) throw new CorruptRunFileError(file, `unknown version ${String((doc as { v?: unknown }).v)}`);
    if (doc.id !== runId) throw new CorruptRunFileError(file, `holds run ${String(doc.id)}, not ${runId}`);
    const ctx = doc.snapshot?.context;
    if (!ctx || !Array.isArray(ctx.attempts) || !Array.isArray(doc.events) || !Array.isArray(doc.timers) || !Array.isArray(doc.outbox))
      throw new CorruptRunFileError(file, 'missing snapshot, timers, outbox or events');
    return doc;
  }

  async read(runId: string): Promise<RunDoc | null> {
    if (!/^run_[A-Za-z0-9_-]+$/.test(runId)) return null;
    try {
      return await this.readChecked(runId);
    } catch (e) {
      if (e instanceof CorruptRunFileError && e.reason === 'empty document') return null;
      throw e;
    }
  }

  /**
   * One atomic write of the run's file, then its index line, both through the group commit. The index is derived;
   * its append need not be synced for the run to be safe (see the header comment). Before load() there is no index
   * to append to, as before.
   */
  async commit(doc: RunDoc, summary: RunSummary): Promise<void> {
    const db = this.db(doc.id, this.indexOpen ? `${JSON.stringify(summary)}\n` : '');
    db.data = doc;
    try {
      await db.write();
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  async close(): Promise<void> {
    const w = this.writer;
    this.writer = null;
    this.indexOpen = false;
    await w?.close();
  }
}
