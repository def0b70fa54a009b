/**
 * `GET /metrics`: Prometheus text format (prom-client), one registry per app. Counters are process metrics (they start
 * at 0 with the process, as Prometheus expects); gauges are read from the engine at scrape time, so they are exact
 * after a restart. Low cardinality: no run id or attempt id is ever a label.
 *
 * Behind TETHER_API_TOKEN when it is set; TETHER_METRICS_TOKEN, when set, is accepted too (a scraper need not hold the
 * API token).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ATTEMPT_STATES, RUN_STATUSES, isFinalRunStatus } from '@tether/machine';
import { requestToken, tokenMatches } from './auth.ts';
import { toErrorBody } from './errors.ts';

/** The webhook's answers as metric verdicts (the words: applied, bad_signature). */
const VERDICT: Record<string, string> = { accepted: 'applied', unauthorized: 'bad_signature' };

export interface TetherMetrics {
  registry: Registry;
  callback(kind: 'callback' | 'heartbeat', result: string): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: TetherMetrics;
  }
}

export default fp(
  async function metrics(app: FastifyInstance) {
    const { engine, settings } = app.tether;
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'tether_process_', eventLoopMonitoringPrecision: 10 });

    const started = new Counter({ name: 'tether_runs_started_total', help: 'Runs created on this node.', registers: [registry] });
    const finished = new Counter({
      name: 'tether_runs_finished_total',
      help: 'Runs that became final on this node, by status.',
      labelNames: ['status'],
      registers: [registry],
    });
    const attempts = new Counter({
      name: 'tether_attempts_total',
      help: 'Attempts that ended, by their end state.',
      labelNames: ['state'],
      registers: [registry],
    });
    const callbacks = new Counter({
      name: 'tether_callbacks_total',
      help: 'Callback and heartbeat requests answered, by kind and verdict (applied, duplicate, conflict, late, bad_signature, not_found, invalid, rate_limited).',
      labelNames: ['kind', 'verdict'],
      registers: [registry],
    });
    const triggers = new Histogram({
      name: 'tether_trigger_duration_seconds',
      help: 'Trigger requests to external systems, until answered, by outcome (ok: a 2xx; failed).',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    const lateness = new Histogram({
      name: 'tether_timer_lateness_seconds',
      help: 'How long after its due time a timer fired (its commit made).',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    const commits = new Histogram({
      name: 'tether_commit_duration_seconds',
      help: 'Commits, from the call to the store until durable.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    });
    const notifications = new Counter({
      name: 'tether_notifications_total',
      help: 'Completion webhook tries, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    new Gauge({
      name: 'tether_runs_active',
      help: 'Runs not final, by status (exact: read from the read model at scrape).',
      labelNames: ['status'],
      registers: [registry],
      collect() {
        const counts = new Map<string, number>(RUN_STATUSES.filter((s) => !isFinalRunStatus(s)).map((s) => [s, 0]));
        for (const s of engine.allSummaries()) if (!isFinalRunStatus(s.status)) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
        for (const [status, n] of counts) this.set({ status }, n);
      },
    });
    new Gauge({
      name: 'tether_timers_armed',
      help: 'Timers armed on this node.',
      registers: [registry],
      collect() {
        this.set(engine.timerCount);
      },
    });
    new Gauge({
      name: 'tether_stream_clients',
      help: 'WebSocket clients on /api/stream.',
      registers: [registry],
      collect() {
        this.set(app.tether.streamClients());
      },
    });
    // Every label value known up front, so a dashboard shows 0 rather than nothing.
    for (const state of ATTEMPT_STATES) if (state !== 'Triggering' && state !== 'AwaitingCallback') attempts.inc({ state }, 0);

    engine.observe({
      lifecycle(e) {
        if (e.kind === 'run.created') started.inc();
        else if (e.kind === 'run.finished') finished.inc({ status: e.state });
        else if (e.kind === 'attempt.ended' || e.kind === 'trigger.failed') attempts.inc({ state: e.state });
      },
      committed: (s) => commits.observe(s),
      triggerSettled: (ok, s) => triggers.observe({ outcome: ok ? 'ok' : 'failed' }, s),
      timerFired: (ms) => lateness.observe(ms / 1000),
      notificationTried: (ok) => notifications.inc({ outcome: ok ? 'delivered' : 'failed' }),
    });

    app.decorate('metrics', {
      registry,
      callback: (kind, result) => callbacks.inc({ kind, verdict: VERDICT[result] ?? result }),
    } satisfies TetherMetrics);

    const allowed = (req: FastifyRequest) => {
      const tokens = [settings.apiToken, settings.metricsToken].filter((t): t is string => t !== null);
      if (!tokens.length) return true;
      const given = requestToken(req);
      // Each compared in constant time; both compared, so the time does not tell which one matched.
      return tokens.map((t) => tokenMatches(t, given)).some(Boolean);
    };
    app.get('/metrics', { schema: { summary: 'Prometheus metrics', hide: false } }, async (req: FastifyRequest, reply: FastifyReply) => {
      if (!allowed(req))
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send(toErrorBody('TETHER_UNAUTHORIZED', 'Authorization: Bearer <TETHER_METRICS_TOKEN or TETHER_API_TOKEN> is required.'));
      return reply.header('content-type', registry.contentType).send(await registry.metrics());
    });
  },
  { name: 'tether-metrics', dependencies: ['tether'] },
);
