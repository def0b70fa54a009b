/**
 * The PostgreSQL store (TETHER_STORE=postgres): the store contract (contract.ts) on tables (schema.ts), for one node
 * or several on one database. Every commit is one statement (tether_commit): the version fence, the run's head, its
 * log entries, timers and outbox rows, atomically, with no network I/O inside it. So no node holds a run longer than
 * that statement, and there is nothing to take over when a node dies.
 *
 * Beyond the contract, what a cluster needs of the database (cluster.ts uses it): claims on due timers and expired
 * outbox leases (FOR UPDATE SKIP LOCKED: two nodes never claim the same row at once), lease renewal, the catch-up
 * query of recent changes, batched reads, and the shared secret.
 *
 * The listing read model is kept in memory (as the file store does), fed by this node's commits and, through
 * cluster.ts, by the other nodes' notifications and the catch-up poll.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { isFinalRunStatus, type RunEventEntry, type RunSummary } from '@tether/machine';
import type { CommitOptions, DueTimer, ListQuery, OpenedStore, OutboxRow, RunChange, RunPage, RunStore } from '../contract.ts';
import { IdempotencyKeyTakenError, VersionConflictError } from '../contract.ts';
import { MemoryReadModel } from '../memory-read-model.ts';
import { RunTooLargeError, type OutboxEntry, type RunDoc } from '../types.ts';
import { migrate } from './schema.ts';

/** The database cannot be reached or answered with an error: the request gets 503 and nothing was acknowledged. */
export class StoreUnavailableError extends Error {
  readonly code = 'TETHER_STORE_UNAVAILABLE';
  constructor(cause: unknown) {
    super(`The database is unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'StoreUnavailableError';
  }
}

export interface PgRunStoreOptions {
  /** postgres://… (TETHER_DATABASE_URL). */
  url: string;
  /** This node's name in claims and logs (TETHER_NODE_ID). */
  nodeId: string;
  /** The engine's clock, epoch ms: due times and leases are on it. */
  now?: () => number;
  /** How long after its due time a timer armed by one node may be taken over by another. @default 1000 */
  timerLeaseMs?: number;
  /** How long a node's claim on sending an outbox entry lasts unless renewed. @default 5000 */
  outboxLeaseMs?: number;
  /** Connections in this node's pool. @default 10 */
  poolSize?: number;
}

/** int8 (bigint) columns as numbers: epoch ms and versions fit a double exactly. */
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Session bounds: a statement, a lock wait or an idle transaction never holds a run (or a connection) for long. */
export const SESSION_BOUNDS = { statement_timeout: 5000, lock_timeout: 2000, idle_in_transaction_session_timeout: 5000 } as const;

/** `name`: the connection's application_name, so an operator (or a test) can tell a node's LISTEN connection in pg_stat_activity. */
export function poolConfig(url: string, max: number, name = 'tether'): pg.PoolConfig {
  return { connectionString: url, max, connectionTimeoutMillis: 5000, types, ...SESSION_BOUNDS, application_name: name.slice(0, 63) };
}

type Head = Omit<RunDoc, 'events' | 'timers' | 'outbox' | 'version'>;

interface DocRow {
  id: string;
  version: number;
  head: Head;
  events: RunEventEntry[];
  timers: RunDoc['timers'];
  outbox: OutboxEntry[];
}

const DOC_SELECT = `
  SELECT r.id, r.version, r.head,
    (SELECT coalesce(json_agg(e.entry ORDER BY e.seq), '[]') FROM tether_events e WHERE e.run_id = r.id) AS events,
    (SELECT coalesce(json_agg(json_build_object('key', t.key, 'dueAt', t.due_at, 'eventType', t.event_type) ORDER BY t.pos), '[]')
       FROM tether_timers t WHERE t.run_id = r.id AND NOT r.final) AS timers,
    (SELECT coalesce(json_agg(o.entry ORDER BY o.pos), '[]') FROM tether_outbox o WHERE o.run_id = r.id AND NOT r.final) AS outbox
  FROM tether_runs r`;

const toDoc = (r: DocRow): RunDoc => ({ ...r.head, version: r.version, timers: r.timers, outbox: r.outbox, events: r.events });

/** A claimed expired outbox lease: whose it was, so the re-send can say "after node A's lease expired". */
export interface ClaimedOutbox extends OutboxRow {
  previousOwner: string;
}

export class PgRunStore implements RunStore {
  readonly pool: pg.Pool;
  readonly nodeId: string;
  private readonly now: () => number;
  readonly timerLeaseMs: number;
  readonly outboxLeaseMs: number;
  private readModel = new MemoryReadModel();
  /** Latest version known here of each run (this node's commits, reads, notifications): remote changes older are ignored. */
  private readonly versions = new Map<string, number>();

  constructor(
    private readonly opts: PgRunStoreOptions,
    pool?: pg.Pool,
  ) {
    this.pool = pool ?? new pg.Pool(poolConfig(opts.url, opts.poolSize ?? 10, `tether ${opts.nodeId}`));
    // An idle client's error (the server restarted) must not crash the process: the next query reconnects.
    this.pool.on('error', () => {});
    this.nodeId = opts.nodeId;
    this.now = opts.now ?? Date.now;
    this.timerLeaseMs = opts.timerLeaseMs ?? 1000;
    this.outboxLeaseMs = opts.outboxLeaseMs ?? 5000;
  }

  private async q<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (e) {
      throw new StoreUnavailableError(e);
    }
  }

  private migrated = false;

  /** Creates or updates the schema (open() does it too; the secret needs it before). */
  async migrate(): Promise<void> {
    if (this.migrated) return;
    try {
      await migrate(this.pool);
    } catch (e) {
      throw new StoreUnavailableError(e);
    }
    this.migrated = true;
  }

  async open(): Promise<OpenedStore> {
    await this.migrate();
    const rows = await this.q<{ version: number; summary: RunSummary }>('SELECT version, summary FROM tether_runs ORDER BY id');
    for (const r of rows) this.versions.set(r.summary.id, r.version);
    this.readModel = new MemoryReadModel(rows.map((r) => r.summary));
    return { readModel: this.readModel, damaged: [], warnings: [] };
  }

  async commit(runId: string, expectedVersion: number, change: RunChange, opts?: CommitOptions): Promise<void> {
    const { doc, summary } = change;
    if ((doc.version ?? 0) !== expectedVersion + 1 || doc.id !== runId) throw new VersionConflictError(runId, expectedVersion, null);
    const { events: _events, timers: _timers, outbox: _outbox, version: _version, ...head } = doc;
    const headJson = JSON.stringify(head);
    const eventsJson = JSON.stringify(change.appended);
    if (opts?.maxBytes !== undefined) {
      // The document as the file store would write it: head + the whole log + timers + outbox.
      const bytes = Buffer.byteLength(JSON.stringify(doc));
      if (bytes > opts.maxBytes) throw new RunTooLargeError(runId, bytes, opts.maxBytes);
    }
    const final = isFinalRunStatus(summary.status);
    const rows = await this.q<{ r: number }>('SELECT tether_commit($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) AS r', [
      runId,
      expectedVersion,
      summary.status,
      final,
      summary.attempt,
      JSON.stringify(summary),
      headJson,
      eventsJson,
      JSON.stringify(change.timers),
      JSON.stringify(change.outbox),
      this.nodeId,
      this.now(),
      this.timerLeaseMs,
      this.outboxLeaseMs,
    ]).catch((e: unknown) => {
      // The unique index on the key: another node created a run with it between our lookup and this insert.
      const cause = (e as { cause?: { code?: string; constraint?: string } }).cause;
      if (cause?.code === '23505' && cause.constraint === 'tether_runs_idempotency_key' && summary.idempotencyKey !== undefined)
        throw new IdempotencyKeyTakenError(summary.idempotencyKey);
      throw e;
    });
    const r = rows[0]!.r;
    if (r !== 0) throw new VersionConflictError(runId, expectedVersion, r === -1 ? null : r);
    this.learn(summary, expectedVersion + 1);
  }

  /** Records a committed summary at `version` (this node's commit, or another's seen later) unless a newer one is known. */
  learn(summary: RunSummary, version: number): boolean {
    const known = this.versions.get(summary.id);
    if (known !== undefined && known >= version) return false;
    this.versions.set(summary.id, version);
    this.readModel.put(summary, known === undefined && this.readModel.get(summary.id) === undefined);
    return true;
  }

  knownVersion(runId: string): number | undefined {
    return this.versions.get(runId);
  }

  async delete(runId: string, expectedVersion: number): Promise<void> {
    // One statement: the run row (fenced by its version) and, only if it went, its log, timers and outbox.
    const rows = await this.q<{ n: number }>(
      `WITH r AS (DELETE FROM tether_runs WHERE id = $1 AND version = $2 RETURNING id),
         e AS (DELETE FROM tether_events WHERE run_id IN (SELECT id FROM r)),
         t AS (DELETE FROM tether_timers WHERE run_id IN (SELECT id FROM r)),
         o AS (DELETE FROM tether_outbox WHERE run_id IN (SELECT id FROM r))
       SELECT count(*)::integer AS n FROM r`,
      [runId, expectedVersion],
    );
    if (rows[0]!.n !== 1) {
      const v = (await this.q<{ version: number }>('SELECT version FROM tether_runs WHERE id = $1', [runId]))[0]?.version ?? null;
      throw new VersionConflictError(runId, expectedVersion, v);
    }
    this.forgetDeleted(runId);
  }

  /** A run deleted here or on another node (its notification says version 0). */
  forgetDeleted(runId: string): void {
    this.versions.delete(runId);
    this.readModel.remove(runId);
  }

  async get(runId: string): Promise<RunDoc | null> {
    const rows = await this.q<DocRow>(`${DOC_SELECT} WHERE r.id = $1`, [runId]);
    return rows[0] ? toDoc(rows[0]) : null;
  }

  async getMany(ids: string[]): Promise<RunDoc[]> {
    if (!ids.length) return [];
    return (await this.q<DocRow>(`${DOC_SELECT} WHERE r.id = ANY($1)`, [ids])).map(toDoc);
  }

  /** Current versions and summaries of these runs (the read model's refresh after a notification). */
  async summaries(ids: string[]): Promise<{ version: number; summary: RunSummary }[]> {
    if (!ids.length) return [];
    return this.q('SELECT version, summary FROM tether_runs WHERE id = ANY($1)', [ids]);
  }

  async exists(runId: string): Promise<boolean> {
    if (this.readModel.get(runId)) return true;
    return (await this.q('SELECT 1 FROM tether_runs WHERE id = $1', [runId])).length > 0;
  }

  async findByIdempotencyKey(key: string): Promise<string | null> {
    const known = this.readModel.byIdempotencyKey(key);
    if (known) return known;
    return (await this.q<{ id: string }>('SELECT id FROM tether_runs WHERE idempotency_key = $1', [key]))[0]?.id ?? null;
  }

  async list(q: ListQuery): Promise<RunPage> {
    return this.readModel.list(q);
  }

  async dueTimers(upTo: number, limit: number): Promise<DueTimer[]> {
    const rows = await this.q<DueTimer>(
      `SELECT t.run_id AS "runId", t.key, t.due_at AS "dueAt", t.event_type AS "eventType", r.attempt
       FROM tether_timers t JOIN tether_runs r ON r.id = t.run_id
       WHERE NOT r.final AND ($1::bigint IS NULL OR t.due_at <= $1) ORDER BY t.due_at LIMIT $2`,
      [Number.isFinite(upTo) ? upTo : null, Number.isFinite(limit) ? limit : null],
    );
    return rows;
  }

  async outbox(limit: number): Promise<OutboxRow[]> {
    return this.q<OutboxRow>(
      `SELECT o.run_id AS "runId", o.entry FROM tether_outbox o JOIN tether_runs r ON r.id = o.run_id
       WHERE NOT r.final ORDER BY o.run_id, o.pos LIMIT $1`,
      [Number.isFinite(limit) ? limit : null],
    );
  }

  /**
   * Claims timers whose claim has run out (their node died or stalled past due + lease): this node will fire them.
   * Two nodes never claim one row at once (SKIP LOCKED); a claim only decides who tries first — the commit of what the
   * timer does is fenced by the run's version, so a timer fired twice changes its run once.
   */
  async claimTimers(limit: number): Promise<(DueTimer & { previousOwner: string })[]> {
    const now = this.now();
    return this.q(
      `WITH c AS (
         SELECT run_id, key, owner FROM tether_timers WHERE claimed_until < $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       UPDATE tether_timers t SET owner = $3, claimed_until = $1 + $4 FROM c
       WHERE t.run_id = c.run_id AND t.key = c.key
       RETURNING t.run_id AS "runId", t.key, t.due_at AS "dueAt", t.event_type AS "eventType", 0 AS attempt, c.owner AS "previousOwner"`,
      [now, limit, this.nodeId, this.timerLeaseMs],
    );
  }

  /** Claims outbox entries whose sender's lease expired: this node re-sends them (same Idempotency-Key). */
  async claimOutbox(limit: number): Promise<ClaimedOutbox[]> {
    const now = this.now();
    return this.q(
      `WITH c AS (
         SELECT run_id, id, owner FROM tether_outbox WHERE lease_until < $1 ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED)
       UPDATE tether_outbox o SET owner = $3, lease_until = $1 + $4 FROM c
       WHERE o.run_id = c.run_id AND o.id = c.id
       RETURNING o.run_id AS "runId", o.entry, c.owner AS "previousOwner"`,
      [now, limit, this.nodeId, this.outboxLeaseMs],
    );
  }

  /** Claims pending completion webhooks whose lease ran out (their node died): this node delivers them. */
  async claimNotifications(limit: number): Promise<string[]> {
    const rows = await this.q<{ id: string }>(
      `WITH c AS (
         SELECT id FROM tether_runs
         WHERE notify_due IS NOT NULL AND notify_due <= $1 AND notify_lease < (extract(epoch FROM clock_timestamp()) * 1000)::bigint
         ORDER BY notify_due LIMIT $2 FOR UPDATE SKIP LOCKED)
       UPDATE tether_runs r SET notify_lease = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 10000 FROM c
       WHERE r.id = c.id RETURNING r.id`,
      [this.now(), limit],
    );
    return rows.map((r) => r.id);
  }

  /** Extends this node's leases on entries it is sending (a slow target must not make another node re-send early). */
  async renewOutbox(entries: { runId: string; id: string }[]): Promise<void> {
    if (!entries.length) return;
    await this.q(`UPDATE tether_outbox SET lease_until = $1 WHERE owner = $2 AND (run_id, id) IN (SELECT * FROM unnest($3::text[], $4::text[]))`, [
      this.now() + this.outboxLeaseMs,
      this.nodeId,
      entries.map((e) => e.runId),
      entries.map((e) => e.id),
    ]);
  }

  /** Runs changed since `sinceMs` on the database's clock, and that clock now (the catch-up poll's cursor). */
  async changedSince(sinceMs: number, limit: number): Promise<{ rows: { id: string; version: number }[]; dbNow: number }> {
    const rows = await this.q<{ id: string; version: number; db_now: number }>(
      `SELECT id, version, (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS db_now
       FROM tether_runs WHERE changed_ms > $1 ORDER BY changed_ms LIMIT $2`,
      [sinceMs, limit],
    );
    const dbNow = rows[0]?.db_now ?? (await this.dbNow());
    return { rows: rows.map((r) => ({ id: r.id, version: r.version })), dbNow };
  }

  async dbNow(): Promise<number> {
    return (await this.q<{ n: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS n'))[0]!.n;
  }

  /** The cluster's callback secret: TETHER_SECRET if given, else the one the first node generated and stored. */
  async secret(given?: string): Promise<Buffer> {
    if (given) return Buffer.from(given, 'utf8');
    const candidate = randomBytes(32).toString('base64url');
    await this.q(`INSERT INTO tether_meta (key, value) VALUES ('secret', $1) ON CONFLICT (key) DO NOTHING`, [candidate]);
    const rows = await this.q<{ value: string }>(`SELECT value FROM tether_meta WHERE key = 'secret'`);
    return Buffer.from(rows[0]!.value, 'utf8');
  }

  /** Whether the database answers now (readiness). */
  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  get runCount(): number {
    return this.readModel.count;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
