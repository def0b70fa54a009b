/** The engine's coded failures. */

/** Thrown when a commit cannot be made durable (disk full, read-only…): nothing was acknowledged. */
export class CommitError extends Error {
  constructor(
    readonly runId: string,
    override readonly cause: unknown,
  ) {
    super(`Could not commit run ${runId}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'CommitError';
  }
}

/**
 * A run whose document is missing or does not parse: quarantined. Every request about it is answered with this (coded
 * TETHER_RUN_DAMAGED, naming the file); nothing is committed for it and its file is never rewritten. Repair or restore
 * the file and restart.
 */
export class RunDamagedError extends Error {
  readonly code = 'TETHER_RUN_DAMAGED';
  constructor(
    readonly runId: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`Run ${runId} is damaged: ${file}: ${reason}. Nothing is changed for it until the file is repaired or restored and Tether restarted.`);
    this.name = 'RunDamagedError';
  }
}

/** The same Idempotency-Key with another request than the one that created its run: 422, nothing created. */
export class IdempotencyKeyReusedError extends Error {
  readonly code = 'TETHER_IDEMPOTENCY_KEY_REUSED';
  constructor(
    readonly key: string,
    readonly runId: string,
  ) {
    super(
      `Idempotency-Key ${JSON.stringify(key)} was used for another request (it created run ${runId}); a key may be repeated only with the same request. Nothing was created.`,
    );
    this.name = 'IdempotencyKeyReusedError';
  }
}

export interface DamagedRunInfo {
  runId: string;
  file: string;
  reason: string;
  /** When this process found it, epoch ms. */
  since: number;
}
