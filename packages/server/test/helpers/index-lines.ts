/**
 * index.jsonl as a test sees it: the lines on disk, and the line the store must write for a document — built here from
 * the format's description (src/store/index-line.ts), not with the store's own code, so a test checks the format.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isFinalRunStatus, toRunSummary } from '@tether/machine';
import type { RunDoc } from '../../src/store/types.ts';

/** Every line of the data directory's index, as written (no newline). */
export const indexLinesOf = async (dir: string): Promise<string[]> => (await readFile(join(dir, 'index.jsonl'), 'utf8')).split('\n').filter(Boolean);

/** The last line of each run, parsed: last line wins. */
export async function lastIndexLines(dir: string): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const l of await indexLinesOf(dir)) {
    const v = JSON.parse(l) as Record<string, unknown>;
    out.set(v.id as string, v);
  }
  return out;
}

/**
 * A final run's line is its summary, as is; an open run's carries `~p`: `[attempt, outbox entries, key, dueAt,
 * eventType, …]` after the summary's fields.
 */
export function expectedIndexLine(doc: RunDoc): string {
  const summary = toRunSummary(doc.snapshot);
  if (isFinalRunStatus(summary.status)) return JSON.stringify(summary);
  const attempt = doc.snapshot.context.attempts.at(-1)?.number ?? 0;
  return JSON.stringify({ ...summary, '~p': [attempt, doc.outbox.length, ...doc.timers.flatMap((t) => [t.key, t.dueAt, t.eventType])] });
}

/** The same line without its re-arm record: as an older Tether wrote it, or as a damaged run's line is kept. */
export const plainIndexLine = (doc: RunDoc): string => JSON.stringify(toRunSummary(doc.snapshot));

/** What a start re-arms for a run from its line (LoadedStore.pending). */
export const pendingOfDoc = (doc: RunDoc) => ({ id: doc.id, attempt: doc.snapshot.context.attempts.at(-1)?.number ?? 0, timers: doc.timers });
