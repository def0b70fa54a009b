/**
 * What makes N identical nodes on one PostgreSQL database one Tether: no node is special, and nothing a node holds
 * outlives a statement, so a dead node's work is simply picked up.
 *
 * - Fan-out: after its commits a node sends one coalesced NOTIFY (run id + version, outside the commit: a NOTIFY
 *   inside it would serialise every commit on the notification queue's lock, graphile/worker#552). The others refresh
 *   those runs (their read model, their stream subscribers). A lost notification (a node died between its commit and
 *   the NOTIFY; a dropped LISTEN connection) only delays: a catch-up poll reads recent changes by the database's clock.
 * - Timers: the committing node arms its timers itself; each row records that claim until due + lease. A poll claims
 *   rows whose claim ran out (FOR UPDATE SKIP LOCKED) and fires them here: a dead or stalled node's timers fire about a
 *   lease late. Firing twice is harmless: the commit is fenced by the run's version, the second finds the timer gone.
 * - Triggers: the committing node sends at once, renewing its lease while the request is in flight; a poll claims
 *   entries whose lease expired and re-sends them (same Idempotency-Key), recorded on the run.
 *
 * LISTEN needs a direct connection (not through PgBouncer in transaction mode), kept here apart from the pool.
 */
import pg from 'pg';
import type { Engine, EngineLogger } from './engine.ts';
import { poolConfig, type PgRunStore } from '../store/pg/pg-run-store.ts';

export const CHANNEL = 'tether_changes';

export interface ClusterOptions {
  engine: Engine;
  store: PgRunStore;
  url: string;
  log: EngineLogger;
  /** How often expired timer claims are looked for. @default 200 */
  timerPollMs?: number;
  /** How often expired trigger leases are looked for. @default 500 */
  outboxPollMs?: number;
  /** How often recent changes are read in case a notification was lost. @default 2000 */
  catchUpMs?: number;
  /** How far back the catch-up reads before its last cursor: longer than any commit statement can take. @default 10000 */
  catchUpOverlapMs?: number;
  /** Commits gathered into one NOTIFY. @default 10 */
  coalesceMs?: number;
}

/** A NOTIFY payload must stay under 8000 bytes. */
const MAX_PAYLOAD = 7000;

export class Cluster {
  private readonly o: Required<Omit<ClusterOptions, 'engine' | 'store' | 'url' | 'log'>>;
  private readonly pending = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly loops: NodeJS.Timeout[] = [];
  private listener: pg.Client | null = null;
  private listening = false;
  private stopped = false;
  private cursor = 0;
  /** Counters for /healthz and the benches. */
  readonly stats = { notifiesSent: 0, notificationsReceived: 0, caughtUp: 0, timersTakenOver: 0, triggersTakenOver: 0, listenReconnects: 0 };

  constructor(private readonly opts: ClusterOptions) {
    this.o = {
      timerPollMs: opts.timerPollMs ?? 200,
      outboxPollMs: opts.outboxPollMs ?? 500,
      catchUpMs: opts.catchUpMs ?? 2000,
      catchUpOverlapMs: opts.catchUpOverlapMs ?? 10_000,
      coalesceMs: opts.coalesceMs ?? 10,
    };
  }

  get nodeId(): string {
    return this.opts.store.nodeId;
  }

  /** Whether the LISTEN connection is up (else changes arrive by the catch-up poll only). */
  get listenConnected(): boolean {
    return this.listening;
  }

  async start(): Promise<void> {
    this.cursor = await this.opts.store.dbNow();
    await this.listen();
    this.opts.engine.onCommitted((runId, version) => this.enqueue(runId, version));
    this.loop(this.o.timerPollMs, () => this.claimTimers());
    this.loop(this.o.outboxPollMs, () => this.claimTriggers());
    this.loop(this.o.outboxPollMs, async () => {
      for (const runId of await this.opts.store.claimNotifications(50)) this.opts.engine.takeOverNotification(runId);
    });
    this.loop(Math.max(200, Math.floor(this.opts.store.outboxLeaseMs / 3)), () => this.opts.store.renewOutbox(this.opts.engine.inFlightTriggers()));
    this.loop(this.o.catchUpMs, () => this.catchUp());
  }

  /** Repeats `fn` every `ms` (never two at once); a failure (database away) is logged once per streak and retried. */
  private loop(ms: number, fn: () => Promise<unknown>): void {
    let failing = false;
    const tick = async () => {
      if (this.stopped) return;
      try {
        await fn();
        failing = false;
      } catch (e) {
        if (!failing) this.opts.log.warn({ err: (e as Error).message }, 'cluster: background work failed; retrying');
        failing = true;
      }
      if (!this.stopped) this.loops.push(setTimeout(tick, ms).unref());
    };
    this.loops.push(setTimeout(tick, ms).unref());
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(poolConfig(this.opts.url, 1, `tether-listen ${this.nodeId}`));
    const reconnect = () => {
      if (client !== this.listener) return;
      this.listener = null;
      this.listening = false;
      client.end().catch(() => {});
      if (this.stopped) return;
      this.stats.listenReconnects++;
      setTimeout(() => {
        // Back: whatever was notified meanwhile is read at once.
        this.listen()
          .then(() => this.catchUp())
          .catch(() => reconnect());
      }, 1000).unref();
    };
    this.listener = client;
    client.on('error', reconnect);
    client.on('end', reconnect);
    client.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) this.onNotification(n.payload);
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.listening = true;
  }

  /** Drops the LISTEN connection as a network fault would (tests: dashboards must still converge). */
  dropListenConnection(): void {
    const c = this.listener as (pg.Client & { connection?: { stream?: { destroy(): void } } }) | null;
    c?.connection?.stream?.destroy();
  }

  private enqueue(runId: string, version: number): void {
    this.pending.set(runId, version);
    this.flushTimer ??= setTimeout(() => void this.flush(), this.o.coalesceMs);
  }

  private async flush(): Promise<void> {
    this.flushTimer = null;
    if (!this.pending.size) return;
    const items = [...this.pending].map(([id, v]) => `${id}:${v}`);
    this.pending.clear();
    const head = `${this.nodeId}\n`;
    let payload = head;
    const sends: string[] = [];
    for (const item of items) {
      if (payload.length + item.length + 1 > MAX_PAYLOAD) {
        sends.push(payload);
        payload = head;
      }
      payload += payload === head ? item : `,${item}`;
    }
    if (payload !== head) sends.push(payload);
    for (const p of sends) {
      // Best effort: a lost hint only delays the others until their catch-up poll.
      await this.opts.store.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, p]).then(
        () => this.stats.notifiesSent++,
        () => {},
      );
    }
  }

  private onNotification(payload: string): void {
    const nl = payload.indexOf('\n');
    if (nl < 0 || payload.slice(0, nl) === this.nodeId) return;
    this.stats.notificationsReceived++;
    const stale: string[] = [];
    for (const item of payload.slice(nl + 1).split(',')) {
      const at = item.lastIndexOf(':');
      const id = item.slice(0, at);
      const version = Number(item.slice(at + 1));
      // Version 0: the run was deleted there.
      if (version === 0) {
        this.opts.store.forgetDeleted(id);
        this.opts.engine.remoteChanged(id);
      } else if ((this.opts.store.knownVersion(id) ?? 0) < version) stale.push(id);
    }
    if (stale.length) this.refresh(stale).catch((e) => this.opts.log.warn({ err: (e as Error).message }, 'cluster: refresh failed'));
  }

  /** Reads runs other nodes changed: the read model learns their summaries, subscribers here get their updates. */
  private async refresh(ids: string[]): Promise<void> {
    const { engine, store } = this.opts;
    if (engine.listening) {
      for (const doc of await store.getMany(ids)) {
        const known = store.knownVersion(doc.id);
        const summary = engine.summaryOf(doc);
        if (store.learn(summary, doc.version ?? 0)) engine.remoteCommitted(doc, known);
      }
      return;
    }
    for (const { version, summary } of await store.summaries(ids)) if (store.learn(summary, version)) engine.remoteChanged(summary.id);
  }

  private async catchUp(): Promise<void> {
    const { rows, dbNow } = await this.opts.store.changedSince(this.cursor - this.o.catchUpOverlapMs, 10_000);
    this.cursor = dbNow;
    const stale = rows.filter((r) => (this.opts.store.knownVersion(r.id) ?? 0) < r.version).map((r) => r.id);
    if (stale.length) {
      this.stats.caughtUp += stale.length;
      for (let i = 0; i < stale.length; i += 500) await this.refresh(stale.slice(i, i + 500));
    }
  }

  private async claimTimers(): Promise<void> {
    for (;;) {
      const claimed = await this.opts.store.claimTimers(200);
      for (const t of claimed) {
        this.stats.timersTakenOver++;
        this.opts.engine.takeOverTimer(t, t.previousOwner);
      }
      if (claimed.length < 200 || this.stopped) return;
    }
  }

  private async claimTriggers(): Promise<void> {
    const claimed = await this.opts.store.claimOutbox(50);
    await Promise.all(
      claimed.map((c) => {
        this.stats.triggersTakenOver++;
        return this.opts.engine.takeOverTrigger(c.runId, c.entry.id, c.previousOwner).catch((e: unknown) => {
          this.opts.log.warn({ runId: c.runId, err: (e as Error).message }, 'cluster: could not re-send a trigger taken over');
        });
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.loops) clearTimeout(t);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.flush();
    this.opts.engine.onCommitted(null);
    const l = this.listener;
    this.listener = null;
    this.listening = false;
    await l?.end().catch(() => {});
  }
}
