/**
 * The messages between the store's main-thread side and its two writer threads, typed once for both ends: the journal
 * writer (journal.ts ↔ journal-thread.ts) and the run-file writer (run-file-writer.ts ↔ run-file-thread.ts).
 *
 * Every request the main thread posts carries an `id`; the thread answers each request, in order, with one reply
 * carrying the same `id` (writer-thread.ts matches them up). Errors cross the thread boundary as plain objects
 * (`PlainError`): an Error's own fields do not survive structured cloning reliably (its `code` does not).
 */
import { parentPort } from 'node:worker_threads';

/** An error as a thread reports it: its message and, for a system call's failure, its errno code (ENOSPC, EISDIR…). */
export interface PlainError {
  message: string;
  code?: string;
}

// ── The journal writer ────────────────────────────────────────────────────────────────────────────────────────────

export type JournalRequest =
  /**
   * Opens `journal` (segment `seq`) for appends (created if missing) and `index` for summary lines, replacing what
   * was open.
   */
  | { type: 'open'; journal: string; seq: number; index: string | null; fsync: boolean }
  /** Appends go to `journal` (segment `seq`) from here on; the new segment is opened before the old one is closed. */
  | { type: 'rotate'; journal: string; seq: number }
  /** One group: its records (one line each) in one write, then its index lines. */
  | { type: 'append'; journal: string; index: string }
  /** Answered once every request posted before it has been. */
  | { type: 'noop' }
  /** Closes both files. */
  | { type: 'close' };

export interface JournalReply {
  error: PlainError | null;
  /** The index append failed (the journal write did not): the index may lag; no commit fails for it. */
  indexFailed?: boolean;
  /** Bytes in the current segment after this request. */
  size: number;
  /**
   * A group that landed: the segment it is in, and where each record begins, plus where the group ends (n + 1
   * offsets, bytes): record i is the bytes from `bounds[i]` to `bounds[i + 1] - 1` (its newline excluded).
   */
  landed?: { seq: number; bounds: number[] };
}

// ── The run-file writer ───────────────────────────────────────────────────────────────────────────────────────────

/** Where a journal record is: its segment's file, and its bytes there (the newline excluded). */
export interface RecordSpan {
  segment: string;
  offset: number;
  length: number;
}

export interface RunFileWrite {
  /** The run file. */
  file: string;
  /** The temp file beside it that is written, then renamed over `file`. */
  tmp: string;
  /** The record whose bytes become the file, copied by the thread from the journal segment (page cache, usually). */
  from: RecordSpan;
}

export type RunFileRequest =
  /**
   * Writes each file atomically (temp → fsync? → rename) with the bytes of its journal record, then fsyncs each
   * directory once (with `fsync`).
   */
  { type: 'files'; fsync: boolean; files: RunFileWrite[] } | { type: 'noop' };

export interface RunFileReply {
  /** Per file of the request, in order: null, or the error that write hit (that file is untouched). */
  errors: Array<PlainError | null>;
  /** An error after the files (a directory fsync): every file of the batch counts as failed. */
  batchError: PlainError | null;
}

// ── Both ──────────────────────────────────────────────────────────────────────────────────────────────────────────

/** Each writer thread's module (`<name>.ts` beside this file; `<name>.mjs` beside the bundle) and its protocol. */
export interface ThreadProtocols {
  'journal-thread': { request: JournalRequest; reply: JournalReply };
  'run-file-thread': { request: RunFileRequest; reply: RunFileReply };
}

export type ThreadModule = keyof ThreadProtocols;

/** Every thread module: scripts/build.ts bundles each as an entry point of its own, next to dist/server.mjs. */
export const THREAD_MODULES: readonly ThreadModule[] = ['journal-thread', 'run-file-thread'];

export type Request<M extends ThreadModule> = ThreadProtocols[M]['request'];
export type Reply<M extends ThreadModule> = ThreadProtocols[M]['reply'];
/** On the wire, both ways: the message and the id that pairs a reply with its request. */
export type Envelope<T> = T & { id: number };

export function plainError(e: unknown): PlainError {
  const err = e as { message?: unknown; code?: unknown } | null;
  const message = err && typeof err.message === 'string' ? err.message : String(e);
  return typeof err?.code === 'string' ? { message, code: err.code } : { message };
}

/**
 * The thread side: answers every request with `handle`'s reply, under the request's id. `handle` is synchronous on
 * purpose: requests are then answered strictly in the order they were posted, which the main thread relies on (a
 * rotation is ordered with the appends around it; `noop` and `close` answer after everything before them).
 */
export function serveRequests<M extends ThreadModule>(module: M, handle: (m: Request<M>) => Reply<M>): void {
  const port = parentPort;
  if (!port) throw new Error(`${module} is a worker thread's module; it was loaded on the main thread`);
  port.on('message', (m: Envelope<Request<M>>) => {
    const reply: Envelope<Reply<M>> = { ...handle(m), id: m.id };
    port.postMessage(reply);
  });
}
