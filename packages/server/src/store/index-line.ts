/**
 * One line of index.jsonl: a run's summary and, for a run that is not final, what a restart must re-arm without
 * reading its document — its current attempt, its committed timers and how many triggers its outbox holds — under
 * the key `~p` (a name no summary field can have).
 *
 * Why: after a crash the journal is read whole, but every waiting run's own file used to be read as well, only to
 * learn its timers: 100k files, ~5 s (B5). The index line of a run's last commit already lands with that commit, so
 * it can carry them. A line is trusted for this only when it is the truth: the journal does not hold a newer document
 * of the run, the index did not fail an append this session (lowdb-store.ts keeps an `index.stale` marker for that),
 * and the run's outbox is empty (a trigger in flight needs the document to be re-sent).
 */
import type { RunSummary, TimerRow } from '@tether/machine';
import type { PendingRun, RunDoc } from './types.ts';

/** `[attempt, outboxEntries, key, dueAt, eventType, key, dueAt, eventType, …]`. */
type Packed = Array<string | number>;

export const PENDING_KEY = '~p';

export interface IndexEntry {
  summary: RunSummary;
  /** What the line says a restart must re-arm; null for a final run or a line without it (an older format). */
  open: { attempt: number; outbox: number; timers: TimerRow[] } | null;
}

const currentAttempt = (doc: Pick<RunDoc, 'snapshot'>): number => doc.snapshot.context.attempts.at(-1)?.number ?? 0;

function pack(attempt: number, outbox: number, timers: readonly TimerRow[]): Packed {
  const out: Packed = [attempt, outbox];
  for (const t of timers) out.push(t.key, t.dueAt, t.eventType);
  return out;
}

/** The line for a commit: the summary, and for an open run its re-arm record. Newline included. */
export function indexLineOf(summary: RunSummary, doc: Pick<RunDoc, 'snapshot' | 'timers' | 'outbox'> | null): string {
  const json = JSON.stringify(summary);
  if (!doc) return `${json}\n`;
  // Appended inside the summary object: one JSON value per line, as every reader of the index expects.
  return `${json.slice(0, -1)},${JSON.stringify(PENDING_KEY)}:${JSON.stringify(pack(currentAttempt(doc), doc.outbox.length, doc.timers))}}\n`;
}

/** The line for a run known from a shutdown checkpoint (no document read): its summary and the checkpoint's timers. */
export function indexLineOfPending(summary: RunSummary, p: PendingRun): string {
  return `${JSON.stringify(summary).slice(0, -1)},${JSON.stringify(PENDING_KEY)}:${JSON.stringify(pack(p.attempt, 0, p.timers))}}\n`;
}

function unpack(v: unknown): IndexEntry['open'] {
  if (!Array.isArray(v) || v.length < 2 || (v.length - 2) % 3 !== 0) return null;
  const [attempt, outbox] = v as unknown[];
  if (typeof attempt !== 'number' || typeof outbox !== 'number') return null;
  const timers: TimerRow[] = [];
  for (let i = 2; i < v.length; i += 3) {
    const [key, dueAt, eventType] = [v[i], v[i + 1], v[i + 2]] as unknown[];
    if (typeof key !== 'string' || typeof dueAt !== 'number' || typeof eventType !== 'string') return null;
    timers.push({ key, dueAt, eventType });
  }
  return { attempt, outbox, timers };
}

/** A parsed line as summary + re-arm record; the summary never carries `~p` on (it is sent to clients as is). */
export function indexEntryOf(value: Record<string, unknown>): IndexEntry {
  if (!(PENDING_KEY in value)) return { summary: value as unknown as RunSummary, open: null };
  const { [PENDING_KEY]: packed, ...summary } = value;
  return { summary: summary as unknown as RunSummary, open: unpack(packed) };
}

/** The re-arm record of a trusted line as the store hands it to the engine. */
export const pendingOf = (id: string, open: NonNullable<IndexEntry['open']>): PendingRun => ({ id, attempt: open.attempt, timers: open.timers });
