/**
 * The services: settings, signer, store and engine, decorated on the app. The engine starts paused and resumes once
 * the server listens, so recovered triggers carry callback URLs with the real address.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Engine } from '../engine/engine.ts';
import { Signer, loadOrCreateSecret } from '../engine/signer.ts';
import { systemClock, type Clock } from '../engine/clock.ts';
import { LowdbRunStore } from '../store/lowdb-store.ts';
import type { RunFiles } from '../store/types.ts';
import { FileRunStore } from '../store/file-run-store.ts';
import type { WriteBackHealth } from '../store/write-back-health.ts';
import { defaultPublicUrl, type Settings } from '../settings.ts';
import { ForgedLedger } from './forged-ledger.ts';
import { PgRunStore } from '../store/pg/pg-run-store.ts';
import { Cluster } from '../engine/cluster.ts';
import type { RunStore } from '../store/contract.ts';
import { RunWaiters } from '../engine/run-waiters.ts';

export interface TetherServices {
  settings: Settings;
  engine: Engine;
  signer: Signer;
  /** The engine's clock: routes stamp operator and API events with it, never with Date.now(), so time stays one source. */
  clock: Clock;
  /** Base of callback URLs: TETHER_PUBLIC_URL, or the listening address. */
  publicUrl(): string;
  /** Bad-signature webhook requests, counted per run and per client instead of recorded one by one (forged-ledger.ts). */
  forged: ForgedLedger;
  /**
   * The store's own health, for /healthz: how its background write-backs are doing. `writeBack` is absent for a store
   * that does not report it (a test's stand-in for the lowdb store).
   */
  storeHealth(): Promise<StoreHealth>;
  /** WebSocket clients on /api/stream now (the stream route sets it; 0 before). */
  streamClients: () => number;
  /** Callers waiting for runs to be final (`?wait=`). */
  waiters: RunWaiters;
  /** Several nodes on PostgreSQL: this node's part (null with the file store). */
  cluster: Cluster | null;
}

export interface StoreHealth {
  kind: 'file' | 'postgres';
  writeBack?: WriteBackHealth;
  /** postgres: the database answered a ping just now. */
  reachable?: boolean;
  /** postgres: this node's LISTEN connection is up. */
  listening?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    tether: TetherServices;
  }
}

export interface TetherPluginOptions {
  settings: Settings;
  clock?: Clock;
  /** The embedded store's file layer (tests wrap the real one to inject faults); FileRunStore serves the contract over it. */
  store?: RunFiles;
  /** Rejected requests kept per run before they are folded into one entry (the engine's default when absent). */
  maxRejectedPerRun?: number;
}

export default fp<TetherPluginOptions>(
  async function tether(app: FastifyInstance, opts) {
    const { settings } = opts;
    const clock = opts.clock ?? systemClock;
    let listening: string | null = null;
    const publicUrl = () => settings.publicUrl ?? listening ?? defaultPublicUrl(settings.host, settings.port);
    let store: RunStore;
    let storeHealth: () => Promise<StoreHealth>;
    let secret: Buffer;
    const pgStore =
      settings.store === 'postgres' && !opts.store
        ? new PgRunStore({ url: settings.databaseUrl!, nodeId: settings.nodeId, now: () => clock.now() })
        : null;
    if (pgStore) {
      // Every node of a cluster signs with one secret: TETHER_SECRET, or the one the first node stored in the database.
      await pgStore.migrate();
      secret = await pgStore.secret(settings.secret ?? undefined);
      store = pgStore;
      storeHealth = async () => ({ kind: 'postgres', reachable: await pgStore.ping(), listening: cluster?.listenConnected ?? false });
    } else {
      secret = await loadOrCreateSecret(settings.dataDir, settings.secret ?? undefined);
      // The store logs its background write-backs' failures (nobody awaits those) and dates them by the engine's clock.
      const files = opts.store ?? new LowdbRunStore({ dir: settings.dataDir, fsync: settings.fsync, logger: app.log, now: () => clock.now() });
      store = new FileRunStore(files);
      storeHealth = async () => (files instanceof LowdbRunStore ? { kind: 'file', writeBack: files.writeBackHealth } : { kind: 'file' });
    }
    const signer = new Signer(secret, publicUrl);
    const engine = await Engine.start({
      store,
      shared: pgStore !== null,
      nodeId: settings.nodeId,
      signer,
      paused: true,
      logger: app.log,
      clock,
      maxRunBytes: settings.maxRunBytes,
      lifecycleLog: (obj, msg) => (app.log[settings.lifecycleLogLevel as 'info'] ?? app.log.info).call(app.log, obj, msg),
      notify: {
        maxAttempts: settings.notifyMaxAttempts,
        initialBackoffMs: settings.notifyBackoffMs,
        maxBackoffMs: settings.notifyMaxBackoffMs,
        timeoutMs: settings.notifyTimeoutMs,
      },
      ...(opts.maxRejectedPerRun !== undefined ? { maxRejectedPerRun: opts.maxRejectedPerRun } : {}),
    });
    const forged = new ForgedLedger({
      clock,
      intervalMs: settings.forgedLogIntervalMs,
      limit: settings.forgedRateLimit,
      record: (runId, entry) => engine.recordRejected(runId, entry),
      logger: app.log,
    });
    const cluster: Cluster | null = pgStore ? new Cluster({ engine, store: pgStore, url: settings.databaseUrl!, log: app.log }) : null;
    const waiters = new RunWaiters(engine, clock);
    app.decorate('tether', { settings, engine, signer, clock, publicUrl, forged, storeHealth, cluster, waiters, streamClients: () => 0 });

    app.addHook('onListen', async function () {
      const addr = app.server.address() as AddressInfo | null;
      if (addr && typeof addr === 'object') listening = defaultPublicUrl(addr.address, addr.port);
      engine.resume();
      await cluster?.start();
      if (settings.retentionDays !== null) {
        const sweep = () => {
          if (retention.running) return;
          retention.running = engine
            .sweepFinishedBefore(clock.now() - settings.retentionDays! * 86_400_000)
            .catch((e: unknown) => app.log.warn({ err: (e as Error).message }, 'retention sweep failed'))
            .finally(() => (retention.running = null));
        };
        sweep();
        retention.timer = setInterval(sweep, 3_600_000).unref();
      }
    });
    const retention: { running: Promise<unknown> | null; timer: NodeJS.Timeout | null } = { running: null, timer: null };
    app.addHook('preClose', async () => {
      if (retention.timer) clearInterval(retention.timer);
      // Pending bad-signature summaries first: once the engine stops it records nothing. Best effort (failures are logged).
      await forged.close();
      waiters.close();
      // The cluster's loops first (they use the pool the store closes); commits still draining are seen by the others'
      // catch-up poll instead of a notification.
      await cluster?.stop();
      await engine.stop();
    });
  },
  { name: 'tether' },
);
