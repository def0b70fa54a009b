/**
 * What is durable, seen from outside the store: the journal segments and run files on disk, never a store's memory.
 * `readDurable` (src/store/journal-files.ts) answers "what would a fresh start find for this run"; these helpers ask
 * the same question at a precise instant, or of a copy of the directory as a SIGKILL would leave it.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { journalDir, listSegments, readDurable, segmentFile } from '../../src/store/journal-files.ts';
import type { RunDoc } from '../../src/store/types.ts';

const isMissing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The run's durable document as of this very instant: the journal segments and the run file are copied
 * synchronously, before anything else can run, and read with `readDurable` afterwards. For checks made inside a
 * synchronous callback (a subscriber, a request handler) about what was on disk when it was called.
 *
 * Segments first, then the run file: a write-back writes run files before it deletes the segments, so a segment
 * gone by the time it is copied is already in the run file copied after it.
 */
export function durableAt(dataDir: string, runId: string): Promise<RunDoc | null> {
  const copy = mkdtempSync(join(tmpdir(), 'tether-durable-at-'));
  mkdirSync(join(copy, 'journal'));
  mkdirSync(join(copy, 'runs'));
  let names: string[] = [];
  try {
    names = readdirSync(journalDir(dataDir));
  } catch (e) {
    if (!isMissing(e)) throw e;
  }
  for (const n of names) {
    try {
      copyFileSync(join(journalDir(dataDir), n), join(copy, 'journal', n));
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
  }
  try {
    copyFileSync(join(dataDir, 'runs', `${runId}.json`), join(copy, 'runs', `${runId}.json`));
  } catch (e) {
    if (!isMissing(e)) throw e;
  }
  return readDurable(copy, runId).finally(() => rmSync(copy, { recursive: true, force: true }));
}

/** A copy of the data directory as it is now: what a process killed at this instant would leave behind. */
export async function crashCopy(dataDir: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-crash-copy-'));
  await cp(dataDir, dir, { recursive: true });
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every journal segment on disk, oldest first, with its raw text (one a write-back deletes meanwhile is left out). */
export async function segments(dataDir: string): Promise<Array<{ seq: number; file: string; text: string }>> {
  const out = [];
  for (const seq of await listSegments(dataDir)) {
    const file = segmentFile(dataDir, seq);
    try {
      out.push({ seq, file, text: await readFile(file, 'utf8') });
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
  }
  return out;
}

/** The complete lines of one segment, parsed (a torn last line, with no newline, is not a line). */
export function linesOf(text: string): RunDoc[] {
  const parts = text.split('\n');
  return parts.slice(0, -1).map((l) => JSON.parse(l) as RunDoc);
}

/**
 * Lets the event loop turn until `cond` holds: for work the store starts by itself (a write-back) and finishes on
 * its threads. Checks after every turn; the bound (in 1 ms waits) only stops a test that would hang, rejecting
 * with `what`.
 */
export async function until(cond: () => boolean | Promise<boolean>, what: string, maxWaits = 10_000): Promise<void> {
  for (let i = 0; i < maxWaits; i++) {
    if (await cond()) return;
    await new Promise<void>((r) => setTimeout(r, 1));
  }
  throw new Error(`never happened: ${what}`);
}
