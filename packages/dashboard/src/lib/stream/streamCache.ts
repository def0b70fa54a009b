/**
 * The stream written into the query cache: pages read the runs API through TanStack Query, and every message of the
 * shared socket lands in the same queries, so what a page shows is the latest of the HTTP read and the stream.
 *
 * Messages can cross an HTTP answer (a page read just before a commit, answered just after the commit's message): a
 * run or a list line is replaced only by one at least as recent (`updatedAt`), never by an older one.
 */
import type { QueryClient } from '@tanstack/react-query';
import type { Run, RunEventEntry, RunList, RunSummary, StreamMessage } from '@tether/machine/protocol';
import { runKeys } from '../queryKeys.ts';

/** A re-read of the lists after a watch.ok waits at least this long after the previous one (see `rereadLists`). */
export const LIST_REREAD_MIN_MS = 1_000;

const atLeastAsRecent = (next: { updatedAt: string }, prev: { updatedAt: string }) => Date.parse(next.updatedAt) >= Date.parse(prev.updatedAt);

/** Log entries merged by `seq`, in seq order: the stream and a re-read may both deliver the same entry. */
export function mergeBySeq(current: readonly RunEventEntry[], incoming: readonly RunEventEntry[]): RunEventEntry[] {
  const bySeq = new Map(current.map((e) => [e.seq, e]));
  for (const e of incoming) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** Each cached list page holding the run gets its line replaced in place (same position: the page does not jump). */
export function putSummary(client: QueryClient, summary: RunSummary): void {
  // Only the pages that hold the run are written: setQueryData marks a query fresh, and the others did not change.
  for (const [key, page] of client.getQueriesData<RunList>({ queryKey: runKeys.lists() })) {
    const i = page?.runs.findIndex((r) => r.id === summary.id) ?? -1;
    if (!page || i < 0 || !atLeastAsRecent(summary, page.runs[i]!)) continue;
    client.setQueryData<RunList>(key, { ...page, runs: page.runs.with(i, summary) });
  }
}

/**
 * What the stream said about a run whose page had no answer yet (its first read in flight): kept here until that read
 * lands, then merged into it (`settleRun`, `settleEvents`). Dropping them lost entries: the first read can be answered
 * from before a commit whose `run.event` arrives while it is in flight, and the re-read on `watch.ok` joins that same
 * request (TanStack Query dedupes a fetch of a query with no data), so nothing would bring the entry again.
 */
interface Early {
  run?: Run;
  events: RunEventEntry[];
}
/** At most this many early entries per run: a first read does not take long; a flood is cut, not kept. */
const MAX_EARLY_EVENTS = 1_000;
const earlyByClient = new WeakMap<QueryClient, Map<string, Early>>();
const earlyOf = (client: QueryClient, runId: string): Early => {
  let byRun = earlyByClient.get(client);
  if (!byRun) earlyByClient.set(client, (byRun = new Map()));
  let e = byRun.get(runId);
  if (!e) byRun.set(runId, (e = { events: [] }));
  return e;
};

/** The run's query, if a page has it, gets the run when it is at least as recent; else it waits for the first read. */
export function putRun(client: QueryClient, run: Run): void {
  const prev = client.getQueryData<Run>(runKeys.detail(run.id));
  if (prev) {
    if (atLeastAsRecent(run, prev)) client.setQueryData<Run>(runKeys.detail(run.id), run);
    return;
  }
  const early = earlyOf(client, run.id);
  if (!early.run || atLeastAsRecent(run, early.run)) early.run = run;
}

function putEvent(client: QueryClient, runId: string, event: RunEventEntry): void {
  const prev = client.getQueryData<RunEventEntry[]>(runKeys.events(runId));
  if (prev) {
    client.setQueryData<RunEventEntry[]>(runKeys.events(runId), mergeBySeq(prev, [event]));
    return;
  }
  const early = earlyOf(client, runId);
  if (early.events.length < MAX_EARLY_EVENTS) early.events.push(event);
}

/** A read of the run as the page keeps it: the newest of what was read, what is cached and what the stream said meanwhile. */
export function settleRun(client: QueryClient, read: Run): Run {
  const early = earlyByClient.get(client)?.get(read.id);
  const cached = client.getQueryData<Run>(runKeys.detail(read.id));
  let best = read;
  for (const r of [cached, early?.run]) if (r && !atLeastAsRecent(best, r)) best = r;
  if (early) early.run = undefined;
  return best;
}

/** A read of the log as the page keeps it: merged with what is cached and what the stream sent while it was in flight. */
export function settleEvents(client: QueryClient, runId: string, read: readonly RunEventEntry[]): RunEventEntry[] {
  const early = earlyByClient.get(client)?.get(runId);
  const cached = client.getQueryData<RunEventEntry[]>(runKeys.events(runId)) ?? [];
  // The read wins for the entries it has (a folded heartbeat replaced in place); later ones are kept.
  const merged = mergeBySeq(mergeBySeq(cached, early?.events ?? []), read);
  if (early) early.events = [];
  return merged;
}

function dropRun(client: QueryClient, runId: string): void {
  for (const [key, page] of client.getQueriesData<RunList>({ queryKey: runKeys.lists() })) {
    if (!page?.runs.some((r) => r.id === runId)) continue;
    client.setQueryData<RunList>(key, { ...page, runs: page.runs.filter((r) => r.id !== runId), total: Math.max(0, page.total - 1) });
  }
  earlyByClient.get(client)?.delete(runId);
  // Reset, not kept: a page showing the run reads it again and says it no longer exists.
  void client.resetQueries({ queryKey: runKeys.detail(runId) });
  void client.resetQueries({ queryKey: runKeys.events(runId) });
}

export class StreamCache {
  private lastListReread = Number.NEGATIVE_INFINITY;
  private pendingReread: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly client: QueryClient) {}

  apply(message: StreamMessage): void {
    switch (message.type) {
      case 'run.summary':
        putSummary(this.client, message.summary);
        break;
      case 'run.updated':
        putRun(this.client, message.run);
        putSummary(this.client, message.summary);
        break;
      case 'run.event':
        putEvent(this.client, message.runId, message.event);
        break;
      case 'run.deleted':
        dropRun(this.client, message.runId);
        break;
      case 'watch.ok':
        // The watch is in effect from here: a commit made between a page's HTTP read and now reached neither the
        // read nor the socket, so what the watch names is read again (every reconnect declares its watch anew, so
        // this also covers what was missed while the socket was down).
        if (message.runs > 0 || message.created) this.rereadLists();
        if (message.run) {
          void this.client.invalidateQueries({ queryKey: runKeys.detail(message.run) });
          void this.client.invalidateQueries({ queryKey: runKeys.events(message.run) });
        }
        break;
      default:
        break;
    }
  }

  /**
   * Re-reads the list pages, at most once per LIST_REREAD_MIN_MS (the last one is never dropped, only delayed). On
   * a busy server each re-read of the first page brings new ids, whose watch brings another watch.ok: spaced out, that
   * is one read a second instead of one per round trip.
   */
  private rereadLists(): void {
    if (this.pendingReread !== null) return;
    const wait = this.lastListReread + LIST_REREAD_MIN_MS - Date.now();
    if (wait > 0) {
      this.pendingReread = setTimeout(() => {
        this.pendingReread = null;
        this.rereadLists();
      }, wait);
      return;
    }
    this.lastListReread = Date.now();
    void this.client.invalidateQueries({ queryKey: runKeys.lists() });
  }

  dispose(): void {
    if (this.pendingReread !== null) clearTimeout(this.pendingReread);
    this.pendingReread = null;
  }
}
