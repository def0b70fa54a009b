/**
 * The event-log policy, pure: what one more entry does to a run's log. Most entries are appended; two kinds are folded
 * into the last entry instead, so that a run cannot grow without bound from what others send it.
 */
import type { RunEventEntry } from '@tether/machine';

/** The log after one entry, the entry as stored (what subscribers and callers are told), and how it got there. */
export interface LogChange {
  events: RunEventEntry[];
  stored: RunEventEntry;
  /** True when the last entry was replaced (folded) rather than one appended: a store may update that row in place. */
  replacedLast: boolean;
}

const append = (events: readonly RunEventEntry[], entry: RunEventEntry): LogChange => ({
  events: [...events, entry],
  stored: entry,
  replacedLast: false,
});

/**
 * An accepted heartbeat right after an accepted heartbeat to the same attempt replaces it (same seq, `repeats` + 1)
 * instead of growing the log: a job beating every few seconds for hours would otherwise make every later commit of
 * its run rewrite thousands of entries. Replay stays exact: consecutive heartbeats only overwrite the attempt's
 * lastHeartbeatAt, heartbeat deadline and progress, so the last one — carrying the latest progress any of them sent —
 * leaves the same snapshot. Null when the entry does not fold.
 */
export function foldHeartbeat(events: readonly RunEventEntry[], entry: RunEventEntry): LogChange | null {
  const last = events[events.length - 1];
  if (entry.type !== 'heartbeat.received' || entry.verdict !== 'applied' || !last || last.type !== 'heartbeat.received') return null;
  if (last.verdict !== 'applied' || last.attemptId !== entry.attemptId || !last.event) return null;
  const previous = last.event as { progress?: unknown };
  const event = entry.event as { progress?: unknown };
  const repeats = (last.repeats ?? 1) + 1;
  const stored: RunEventEntry = {
    ...entry,
    seq: last.seq,
    event: event.progress === undefined && previous.progress !== undefined ? { ...event, progress: previous.progress } : event,
    repeats,
    detail: `${entry.detail ?? 'Heartbeat accepted.'} ${repeats} in a row; the log keeps the last.`,
  };
  return { events: [...events.slice(0, -1), stored], stored, replacedLast: true };
}

/**
 * Rejected entries beyond `maxRejected` are folded into the last one instead of growing the run forever. Only a
 * rejected entry is ever folded into: an applied or recorded one is replay input and history, never overwritten
 * (consecutive heartbeats aside: foldHeartbeat keeps replay exact).
 */
export function appendBounded(events: readonly RunEventEntry[], entry: RunEventEntry, maxRejected: number): LogChange {
  const kept = (e: RunEventEntry) => e.verdict === 'applied' || e.verdict === 'recorded';
  if (kept(entry)) return append(events, entry);
  let rejected = 0;
  for (const e of events) if (!kept(e)) rejected++;
  const last = events[events.length - 1];
  if (rejected < maxRejected || !last || kept(last)) return append(events, entry);
  const folded: RunEventEntry = {
    ...last,
    detail: `${entry.type} (${entry.verdict}, ${entry.httpStatus ?? '-'}) at ${entry.at}; more rejected requests were not kept (limit ${maxRejected} per run).`,
  };
  return { events: [...events.slice(0, -1), folded], stored: folded, replacedLast: true };
}

/** The log policy in one call: a heartbeat folds if it can, anything else is appended within the rejected bound. */
export function addToLog(events: readonly RunEventEntry[], entry: RunEventEntry, maxRejected: number): LogChange {
  return foldHeartbeat(events, entry) ?? appendBounded(events, entry, maxRejected);
}
