/**
 * The embedded store: one lowdb document per run, so a commit rewrites only that run (lowdb rewrites its whole
 * document on every write: 2.8 s at 100k runs in one file). Listing comes from an append-only summary index.
 *
 *   <dataDir>/runs/<runId>.json   the run: input, snapshot, timers, outbox, event log  (source of truth)
 *   <dataDir>/index.jsonl         one RunSummary line per commit, last line wins; compacted at start-up
 *
 * The run file is written first; the index line after. A crash between the two leaves the index stale, never the run:
 * start-up reads every run file the index does not show as final (and every file it does not know), and corrects it.
 */
import { Low } from 'lowdb';
import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isFinalRunStatus, toRunSummary, type RunSummary } from '@tether/machine';
import { DurableJSONFile, writeFileAtomic } from './durable-file.ts';
import { CorruptRunFileError, type LoadedStore, type RunDoc, type RunStore } from './types.ts';

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
  private readonly fsync: boolean;
  private index: FileHandle | null = null;

  constructor(opts: LowdbStoreOptions) {
    this.dir = opts.dir;
    this.runsDir = join(opts.dir, 'runs');
    this.indexFile = join(opts.dir, 'index.jsonl');
    this.fsync = opts.fsync ?? false;
  }

  private runFile(runId: string): string {
    return join(this.runsDir, `${runId}.json`);
  }

  private db(runId: string): Low<RunDoc | null> {
    return new Low<RunDoc | null>(new DurableJSONFile<RunDoc | null>(this.runFile(runId), this.fsync), null);
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

    const indexed = await this.readIndex();
    const summaries = new Map<string, RunSummary>();
    const toRead: string[] = [];
    for (const id of onDisk) {
      const s = indexed.get(id);
      if (s && isFinalRunStatus(s.status)) summaries.set(id, s);
      else toRead.push(id);
    }

    const active: RunDoc[] = [];
    for (const id of toRead) {
      const doc = await this.readChecked(id);
      const summary = toRunSummary(doc.snapshot);
      summaries.set(id, summary);
      if (!isFinalRunStatus(summary.status)) active.push(doc);
    }

    // Compact: one line per run, written atomically, then appended to from here on.
    const lines = [...summaries.values()].map((s) => JSON.stringify(s)).join('\n');
    await writeFileAtomic(this.indexFile, lines ? `${lines}\n` : '', this.fsync);
    this.index = await open(this.indexFile, 'a');
    return { active, summaries: [...summaries.values()] };
  }

  private async readIndex(): Promise<Map<string, RunSummary>> {
    const out = new Map<string, RunSummary>();
    let text: string;
    try {
      text = await readFile(this.indexFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw e;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const s = JSON.parse(line) as RunSummary;
        if (typeof s.id === 'string') out.set(s.id, s);
      } catch {
        // A torn last line (crash mid-append) or damage: the index is derived data; run files decide.
        out.clear();
        return out;
      }
    }
    return out;
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

  async commit(doc: RunDoc, summary: RunSummary): Promise<void> {
    const db = this.db(doc.id);
    db.data = doc;
    await db.write();
    // The index is derived; its append need not be synced for the run to be safe (see the header comment).
    await this.index?.write(`${JSON.stringify(summary)}\n`);
  }

  async close(): Promise<void> {
    await this.index?.close();
    this.index = null;
  }
}
