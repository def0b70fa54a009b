/**
 * The journal on disk: `<dataDir>/journal/<12-digit sequence>.jsonl`, one run document (the whole `RunDoc`, exactly
 * as a run file would hold it) per line, oldest segment first, last line of a run wins. Reading it is what start-up
 * does before anything else, and what `readDurable` does for one run.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptRunFileError, type RunDoc } from './types.ts';

const SEGMENT = /^(\d{12})\.jsonl$/;

export const journalDir = (dataDir: string): string => join(dataDir, 'journal');
export const segmentFile = (dataDir: string, seq: number): string => join(journalDir(dataDir), `${String(seq).padStart(12, '0')}.jsonl`);

/** Sequence numbers of the segments on disk, ascending. */
export async function listSegments(dataDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(journalDir(dataDir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .map((n) => SEGMENT.exec(n)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Throws CorruptRunFileError naming `where` unless `doc` is a whole run document (of `runId`, if given). */
export function checkDoc(doc: unknown, where: string, runId?: string): asserts doc is RunDoc {
  if (!doc || typeof doc !== 'object') throw new CorruptRunFileError(where, 'empty document');
  const d = doc as Partial<RunDoc>;
  if (d.v !== 1) throw new CorruptRunFileError(where, `unknown version ${String(d.v)}`);
  if (runId !== undefined && d.id !== runId) throw new CorruptRunFileError(where, `holds run ${String(d.id)}, not ${runId}`);
  if (typeof d.id !== 'string') throw new CorruptRunFileError(where, 'no run id');
  const ctx = d.snapshot?.context;
  if (!ctx || !Array.isArray(ctx.attempts) || !Array.isArray(d.events) || !Array.isArray(d.timers) || !Array.isArray(d.outbox))
    throw new CorruptRunFileError(where, 'missing snapshot, timers, outbox or events');
}

/** Where a record is in the journal: its segment's number, and its bytes there (the newline excluded). */
export interface JournalSpot {
  seq: number;
  offset: number;
  length: number;
}

export interface JournalContents {
  /** The newest journaled document of each run, and where its line is (the bytes its run file will get). */
  docs: Map<string, { doc: RunDoc; at: JournalSpot }>;
  /** Runs whose newest journal line is a deletion (a tombstone): gone, whatever their run file still says. */
  deleted: Map<string, JournalSpot>;
  segments: number[];
}

/** The journal line (and the index line) that deletes a run: durable like a commit, then applied by the write-back. */
export const tombstoneOf = (runId: string) => JSON.stringify({ deleted: true, v: 1, id: runId });
export const isTombstone = (v: unknown): v is { id: string; deleted: true } =>
  typeof v === 'object' && v !== null && (v as { deleted?: unknown }).deleted === true && typeof (v as { id?: unknown }).id === 'string';

/**
 * Every segment, in order. A segment's last line may be torn — the process died while writing it, so it was never
 * acknowledged — and is skipped; a damaged line anywhere else is corruption and stops start-up, naming the file.
 * `onlyRun` parses only that run's lines (a cheap substring test first).
 */
export async function readJournal(dataDir: string, onlyRun?: string): Promise<JournalContents> {
  const segments = await listSegments(dataDir);
  const docs = new Map<string, { doc: RunDoc; at: JournalSpot }>();
  const deleted = new Map<string, JournalSpot>();
  const needle = onlyRun === undefined ? null : Buffer.from(`"id":${JSON.stringify(onlyRun)}`);
  for (const seq of segments) {
    const file = segmentFile(dataDir, seq);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      // A running store's write-back deleted it after listing: what it held is in the run files now.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    // Lines by their newline bytes (a JSON text holds none): each record's offset is where the store reads it again.
    // Past the last newline is a torn record, or nothing.
    let line = 0;
    for (let start = 0, end = bytes.indexOf(10); end !== -1; start = end + 1, end = bytes.indexOf(10, start)) {
      line++;
      if (needle !== null && bytes.subarray(start, end).indexOf(needle) === -1) continue;
      const at: JournalSpot = { seq, offset: start, length: end - start };
      let doc: unknown;
      try {
        doc = JSON.parse(bytes.toString('utf8', start, end));
      } catch (e) {
        throw new CorruptRunFileError(file, `line ${line}: invalid JSON (${(e as Error).message})`);
      }
      if (isTombstone(doc)) {
        if (onlyRun !== undefined && doc.id !== onlyRun) continue;
        docs.delete(doc.id);
        deleted.set(doc.id, at);
        continue;
      }
      try {
        checkDoc(doc, file);
      } catch (e) {
        if (e instanceof CorruptRunFileError) throw new CorruptRunFileError(file, `line ${line}: ${e.reason}`);
        throw e;
      }
      if (onlyRun !== undefined && doc.id !== onlyRun) continue;
      deleted.delete(doc.id);
      docs.set(doc.id, { doc, at });
    }
  }
  return { docs, deleted, segments };
}

/**
 * The run's newest durable document as a fresh start would find it — its newest journal line, else its run file —
 * without any store's memory. Null if neither exists. For tests and tools: it reads every segment.
 */
export async function readDurable(dataDir: string, runId: string): Promise<RunDoc | null> {
  const hit = (await readJournal(dataDir, runId)).docs.get(runId);
  if (hit) return hit.doc;
  const file = join(dataDir, 'runs', `${runId}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const doc: unknown = JSON.parse(text);
  checkDoc(doc, file, runId);
  return doc;
}
