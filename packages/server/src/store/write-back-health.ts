/**
 * How the store's write-backs are doing, for /healthz and the log. Write-backs run in the background (a budget, the
 * interval, a clean shutdown) and nobody awaits them; one that fails loses nothing — the journal keeps every commit —
 * but the journal and the pending documents in memory then grow until one succeeds, which an operator must hear of.
 *
 * The log gets one line per streak of failures, not one per attempt (the interval retries every 30 s for as long as the
 * cause lasts, and a budget retries after every commit): an error line at the first failure, naming the cause and the
 * files, and an info line at the first success after it, saying how many attempts failed since when. In between,
 * `health` carries the count and the newest failure.
 */

/** Where the store reports what nobody awaits. Pino's (Fastify's) logger is one. */
export interface StoreLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentStoreLogger: StoreLogger = { info() {}, error() {} };

/** Files named per failure at most: a write-back of 100k runs into a `runs/` that is gone fails every one of them. */
const NAMED_FILES = 10;

/** A write-back that failed, with the files it could not write (or the journal segment it could not start or remove). */
export class WriteBackError extends Error {
  /** How many files failed; `files` names the first few. */
  readonly fileCount: number;
  readonly files: string[];

  constructor(message: string, files: readonly string[]) {
    super(message);
    this.name = 'WriteBackError';
    this.fileCount = files.length;
    this.files = files.slice(0, NAMED_FILES);
  }
}

export interface WriteBackFailure {
  /** When it failed, ms since the epoch (the store's clock). */
  at: number;
  message: string;
  /** The files it could not write, at most 10 (`fileCount` says how many in all). Empty for a failure of no one file. */
  files: string[];
  fileCount: number;
}

export interface WriteBackHealth {
  /** The newest failure of the current streak; null once a write-back succeeded after it (or none ever failed). */
  lastError: WriteBackFailure | null;
  /** Write-backs that failed since the last one that succeeded. */
  consecutiveFailures: number;
  /** When a write-back last succeeded, ms since the epoch; null if none has yet. */
  lastSuccessAt: number | null;
}

export class WriteBackMonitor {
  private lastError: WriteBackFailure | null = null;
  private consecutiveFailures = 0;
  private lastSuccessAt: number | null = null;
  /** When the current streak's first failure happened. */
  private failingSince: number | null = null;

  constructor(
    private readonly log: StoreLogger,
    private readonly now: () => number,
  ) {}

  get health(): WriteBackHealth {
    const e = this.lastError;
    return { lastError: e && { ...e, files: [...e.files] }, consecutiveFailures: this.consecutiveFailures, lastSuccessAt: this.lastSuccessAt };
  }

  failed(e: unknown): void {
    const at = this.now();
    const message = e instanceof Error ? e.message : String(e);
    const files = e instanceof WriteBackError ? e.files : [];
    const fileCount = e instanceof WriteBackError ? e.fileCount : 0;
    this.lastError = { at, message, files: [...files], fileCount };
    this.consecutiveFailures++;
    if (this.failingSince !== null) return; // the streak was logged when it began
    this.failingSince = at;
    this.log.error(
      { err: { message }, files, fileCount },
      'write-back failed: nothing is lost (the journal keeps every commit), but the journal grows until a write-back succeeds; the next write-back (the interval, a budget, shutdown) tries again; not logged again until one succeeds — /healthz counts the failures meanwhile',
    );
  }

  succeeded(): void {
    const at = this.now();
    if (this.failingSince !== null) {
      this.log.info(
        { failures: this.consecutiveFailures, failingSince: new Date(this.failingSince).toISOString() },
        `write-back recovered after ${this.consecutiveFailures} failed attempt(s)`,
      );
    }
    this.lastError = null;
    this.consecutiveFailures = 0;
    this.failingSince = null;
    this.lastSuccessAt = at;
  }
}
