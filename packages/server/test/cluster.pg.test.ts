/**
 * Several nodes on one PostgreSQL database, as an operator runs them: three real server processes (TETHER_STORE=
 * postgres), a real external system, callbacks sent to whichever node, nodes killed with SIGKILL and stopped with
 * SIGSTOP. What must hold whatever happens (checkRunLog): every run's log gapless, every attempt ended once, every
 * timer applied once; nothing a node acknowledged is lost; a dead node's timers and triggers are taken over.
 *
 * Times here are hang detectors, not speed limits: lateness is reported, and bounded only far above what it should be.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Run, RunEventEntry } from '@tether/machine';
import { createScratchDatabase, dropScratchDatabase } from './helpers/postgres.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { StreamClient } from './helpers/http-ws.ts';
import { checkRunLog, createRun, getEvents, getRun, postCallback, startCluster, until, via, type Cluster } from './helpers/cluster.ts';
import pg from 'pg';

let url: string;
let cluster: Cluster | null = null;
let external: FakeExternalSystem;

beforeEach(async () => {
  url = await createScratchDatabase();
  external = await new FakeExternalSystem().start();
});
afterEach(async () => {
  await cluster?.close();
  cluster = null;
  await external.close();
  await dropScratchDatabase(url);
});

const config = (over: Record<string, unknown> = {}) => ({
  name: 'cluster',
  target: { url: external.url },
  timeoutSeconds: 30,
  retryLimit: 0,
  ...over,
});

/** The trigger each attempt received, by attempt id (its callback URL came from the node that sent it). */
const triggerFor = (attemptId: string) => external.received.find((t) => t.body.attemptId === attemptId);

async function allInvariants(base: string, ids: string[]): Promise<Map<string, RunEventEntry[]>> {
  const logs = new Map<string, RunEventEntry[]>();
  const problems: string[] = [];
  for (const id of ids) {
    const events = await getEvents(base, id);
    logs.set(id, events);
    problems.push(...checkRunLog(id, events));
  }
  expect(problems, 'every log gapless, every attempt ended once, every timer applied once').toEqual([]);
  return logs;
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

/** How late each attempt's timeout was acted on: the attempt's end minus its timeoutDue. */
function timeoutLateness(runs: Run[]): number[] {
  const out: number[] = [];
  for (const r of runs)
    for (const a of r.attempts) if (a.state === 'TimedOut' && a.timeoutDue && a.stateSet) out.push(Date.parse(a.stateSet) - Date.parse(a.timeoutDue));
  return out;
}

describe('several nodes on one PostgreSQL database', () => {
  it('a run created on node 1 is listed, read and called back through node 2, and a dashboard on node 3 sees each commit live; all share one secret from the database', async () => {
    cluster = await startCluster(url, 3);
    const [n1, n2, n3] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const watcher = await StreamClient.connect(`${n3.base.replace('http', 'ws')}/api/stream`);
    const run = await createRun(n1.base, config());
    const trigger = await until(
      'the trigger',
      async () => triggerFor(run.attempts[0]?.id ?? '') ?? (await external.waitFor(1)),
      (t) => Boolean(t),
    );
    // Listed and readable on node 2 (by notification, or at the latest the catch-up poll).
    await until(
      'node 2 lists the run',
      async () => (await (await fetch(`${n2.base}/api/runs`)).json()) as { runs: { id: string }[] },
      (l) => l.runs.some((r) => r.id === run.id),
      15_000,
    );
    expect((await getRun(n2.base, run.id)).id).toBe(run.id);
    // The callback URL node 1 handed out, sent to node 2: verified with the cluster's one secret.
    const answer = await postCallback(via(n2.base, trigger.body.callbackUrl), { success: true, message: 'done via node 2' });
    expect(answer).toEqual({ status: 200, result: 'accepted' });
    expect((await getRun(n1.base, run.id)).status).toBe('succeeded');
    await watcher.waitFor(
      'node 3 streams the success committed on node 2',
      (ms) => ms.some((m) => m.type === 'run.updated' && m.summary.id === run.id && m.summary.status === 'succeeded'),
      15_000,
    );
    await watcher.close();
    const health = (await (await fetch(`${n3.base}/healthz`)).json()) as { node: string; store: { kind: string; reachable: boolean } };
    expect([health.node, health.store.kind, health.store.reachable]).toEqual(['n3', 'postgres', true]);
    await allInvariants(n3.base, [run.id]);
  });

  it('exactly once under contention: each callback sent to all three nodes at once, timeouts due in one second racing callbacks on other nodes', async () => {
    cluster = await startCluster(url, 3);
    const nodes = cluster.nodes;
    const N = 45;
    // Runs created round-robin; every attempt times out 4 s after its trigger, within about one second of each other.
    const runs = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        createRun(nodes[i % 3]!.base, config({ timeoutSeconds: 4, retryLimit: 1, backoff: { initialSeconds: 0.2 } })),
      ),
    );
    await until(
      'every first trigger',
      async () => runs.every((r) => triggerFor(r.attempts[0]!.id)),
      (v) => v,
    );
    const answers: { run: string; results: string[] }[] = [];
    await Promise.all(
      runs.map(async (r, i) => {
        const t = triggerFor(r.attempts[0]!.id)!;
        if (i % 3 === 0) {
          // The same success to every node at once, plus a contradicting failure: exactly one wins.
          const results = await Promise.all([
            ...nodes.map((n) => postCallback(via(n.base, t.body.callbackUrl), { success: true, message: 'same' })),
            postCallback(via(nodes[(i + 1) % 3]!.base, t.body.callbackUrl), { success: false, message: 'contradiction' }),
          ]);
          answers.push({ run: r.id, results: results.map((x) => x.result) });
        } else if (i % 3 === 1) {
          // Sent to another node just as the timeout fires on the creating node: one of the two ends the attempt.
          await new Promise((res) => setTimeout(res, 3_900 + (i % 5) * 50));
          await postCallback(via(nodes[(i + 2) % 3]!.base, t.body.callbackUrl), { success: true, message: 'racing the timeout' });
        }
        // The rest time out, retry and time out again: both timers fire on whichever node committed them.
      }),
    );
    for (const a of answers) {
      expect(
        a.results.filter((x) => x === 'accepted'),
        `${a.run}: one of the four concurrent callbacks accepted`,
      ).toHaveLength(1);
      expect(
        a.results.every((x) => ['accepted', 'duplicate', 'conflict'].includes(x)),
        `${a.run}: ${a.results.join(', ')}`,
      ).toBe(true);
    }
    const final = await until(
      'every run final',
      () => Promise.all(runs.map((r) => getRun(nodes[0]!.base, r.id))),
      (rs) => rs.every((r) => ['succeeded', 'failed'].includes(r.status)),
      90_000,
    );
    await allInvariants(
      nodes[1]!.base,
      runs.map((r) => r.id),
    );
    // Effects at least once, transitions once: each attempt was triggered, and each run has as many attempts as it should.
    for (const r of final) for (const a of r.attempts) expect(triggerFor(a.id), `${r.id}: attempt ${a.number} was triggered`).toBeTruthy();
    const late = timeoutLateness(final);
    console.log(`[cluster] ${late.length} timeouts across 3 nodes: p99 lateness ${p99(late)} ms, max ${Math.max(...late)} ms`);
  });

  it('a node killed with SIGKILL mid-load loses nothing it acknowledged; its timers fire on the others and its in-flight triggers are re-sent by another node (same Idempotency-Key, recorded)', async () => {
    cluster = await startCluster(url, 3);
    const [n1, n2] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    // Triggers of "held" runs are never answered while node 1 lives: they are in flight when it dies.
    const held = (t: { body: { payload?: unknown } }) => (t.body.payload as { hold?: boolean } | null)?.hold === true;
    external.respond = (t) => (held(t) && !reSent(t.body.attemptId) ? new Promise(() => {}) : { status: 202 });
    const reSent = (attemptId: string) => external.received.filter((x) => x.body.attemptId === attemptId).length > 1;
    const waiting = await Promise.all(Array.from({ length: 20 }, () => createRun(n1.base, config({ timeoutSeconds: 5 }))));
    const acked = await Promise.all(Array.from({ length: 10 }, () => createRun(n1.base, config({ timeoutSeconds: 30 }))));
    const heldRuns: Run[] = [];
    for (let i = 0; i < 5; i++) {
      heldRuns.push(await createRun(n1.base, config({ timeoutSeconds: 60, triggerTimeoutSeconds: 120, payload: { hold: true } })));
    }
    await until(
      'every trigger sent',
      async () => [...waiting, ...acked, ...heldRuns].every((r) => triggerFor(r.attempts[0]!.id)),
      (v) => v,
    );
    // Callbacks node 1 acknowledges just before it dies.
    for (const r of acked) {
      const t = triggerFor(r.attempts[0]!.id)!;
      expect(await postCallback(t.body.callbackUrl, { success: true, output: { n: r.id } })).toEqual({ status: 200, result: 'accepted' });
    }
    await cluster.nodes[0]!.proc.kill();

    for (const r of acked) expect((await getRun(n2.base, r.id)).status, `${r.id}: acknowledged by node 1 before its death`).toBe('succeeded');
    const timedOut = await until(
      "node 1's timers fire on the survivors",
      () => Promise.all(waiting.map((r) => getRun(n2.base, r.id))),
      (rs) => rs.every((r) => r.status === 'failed'),
      60_000,
    );
    const late = timeoutLateness(timedOut);
    expect(late, 'every waiting run timed out once').toHaveLength(waiting.length);
    console.log(`[cluster] SIGKILLed node's timeouts fired by the survivors: p99 lateness ${p99(late)} ms, max ${Math.max(...late)} ms`);
    expect(Math.min(...late), 'never early').toBeGreaterThanOrEqual(0);
    expect(p99(late), 'taken over about a claim lease late (hang detector)').toBeLessThan(20_000);

    // The held triggers: re-sent by a survivor once node 1's lease expired, with the same key, and recorded.
    await until(
      'held triggers re-sent',
      async () => heldRuns.every((r) => reSent(r.attempts[0]!.id)),
      (v) => v,
      60_000,
    );
    for (const r of heldRuns) {
      const sends = external.received.filter((x) => x.body.attemptId === r.attempts[0]!.id);
      expect(new Set(sends.map((s) => s.headers['idempotency-key'])), `${r.id}: one Idempotency-Key for every send`).toEqual(
        new Set([r.attempts[0]!.id]),
      );
      const events = await until(
        're-send recorded',
        () => getEvents(n2.base, r.id),
        (es) => es.some((e) => e.type === 'trigger.resent'),
      );
      expect(events.find((e) => e.type === 'trigger.resent')!.detail).toMatch(/re-sent by node n[23] after node n1's lease expired/);
      // And the run goes on from the re-send: its callback lands on a survivor.
      const answer = await postCallback(via(n2.base, sends.at(-1)!.body.callbackUrl), { success: true });
      expect(answer.result).toBe('accepted');
    }
    await allInvariants(
      n2.base,
      [...waiting, ...acked, ...heldRuns].map((r) => r.id),
    );
  });

  it('a node stopped with SIGSTOP past its leases and then resumed commits nothing stale: the others took its timers and triggers over', async () => {
    cluster = await startCluster(url, 3);
    const [n1, n2] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    // Node 1's triggers are answered only after it was stopped and resumed (the answer then arrives to a node whose
    // lease is long gone); the re-sends by the others are answered at once.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const firstSend = new Set<string>();
    external.respond = async (t) => {
      if (!firstSend.has(t.body.attemptId)) {
        firstSend.add(t.body.attemptId);
        if ((t.body.payload as { slow?: boolean } | null)?.slow) await released;
      }
      return { status: 202 };
    };
    const timers = await Promise.all(Array.from({ length: 10 }, () => createRun(n1.base, config({ timeoutSeconds: 3 }))));
    const triggers: Run[] = [];
    for (let i = 0; i < 4; i++) {
      triggers.push(await createRun(n1.base, config({ timeoutSeconds: 60, triggerTimeoutSeconds: 120, payload: { slow: true } })));
    }
    await until(
      'first sends',
      async () => [...timers, ...triggers].every((r) => triggerFor(r.attempts[0]!.id)),
      (v) => v,
    );
    const pid = cluster.nodes[0]!.proc.boots.at(-1)!.pid;
    process.kill(pid, 'SIGSTOP');
    try {
      // Past every timer's due time + claim, and past the trigger leases (5 s).
      await until(
        'the others time the runs out and re-send the triggers',
        async () => ({
          timedOut: (await Promise.all(timers.map((r) => getRun(n2.base, r.id)))).every((r) => r.status === 'failed'),
          resent: triggers.every((r) => external.received.filter((x) => x.body.attemptId === r.attempts[0]!.id).length >= 2),
        }),
        (v) => v.timedOut && v.resent,
        60_000,
      );
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // Node 1 wakes with old timers armed, old documents cached and its first trigger answers arriving now.
    release();
    await new Promise((r) => setTimeout(r, 3000));
    const ids = [...timers, ...triggers].map((r) => r.id);
    const logs = await allInvariants(n1.base, ids);
    for (const r of triggers) {
      const events = logs.get(r.id)!;
      const outcomes = events.filter((e) => e.type === 'trigger.succeeded' && e.verdict === 'applied');
      expect(outcomes, `${r.id}: one trigger outcome applied, whichever send answered first`).toHaveLength(1);
    }
    // And node 1 still serves, from the store's state, not its stale cache.
    for (const r of timers) expect((await getRun(n1.base, r.id)).status).toBe('failed');
  });

  it('a node SIGKILLed while its completion webhook is in flight: another node delivers it once the lease runs out, same id and key', async () => {
    cluster = await startCluster(url, 2);
    const [n1, n2] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const got: { key: string | undefined; id: string }[] = [];
    const { createServer } = await import('node:http');
    const rx = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        got.push({ key: req.headers['idempotency-key'] as string | undefined, id: (JSON.parse(raw) as { id: string }).id });
        if (got.length > 1) res.writeHead(200).end(); // the first try hangs: node 1 dies with it in flight
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    try {
      const rxUrl = `http://127.0.0.1:${(rx.address() as { port: number }).port}/hook`;
      const run = await createRun(n1.base, config({ notify: { url: rxUrl } }));
      const t = await until(
        'trigger',
        async () => triggerFor(run.attempts[0]!.id),
        (x) => Boolean(x),
      );
      expect(await postCallback(t!.body.callbackUrl, { success: true })).toEqual({ status: 200, result: 'accepted' });
      await until(
        'first try',
        async () => got.length,
        (n) => n >= 1,
      );
      await cluster.nodes[0]!.proc.kill();
      const done = await until(
        'delivered by node 2',
        () => getRun(n2.base, run.id),
        (r) => r.notification?.state === 'delivered',
        60_000,
      );
      expect(got.length).toBeGreaterThanOrEqual(2);
      expect(new Set(got.map((g) => g.key))).toEqual(new Set([`${run.id}.finished`]));
      expect(new Set(got.map((g) => g.id)).size).toBe(1);
      expect(done.notification?.attempts).toBe(1);
    } finally {
      rx.closeAllConnections();
      await new Promise<void>((r) => rx.close(() => r()));
    }
  });

  it("a dropped LISTEN connection: the node's dashboards still converge, and the connection comes back", async () => {
    cluster = await startCluster(url, 2);
    const [n1, n2] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const watcher = await StreamClient.connect(`${n2.base.replace('http', 'ws')}/api/stream`);
    // Cut node 2's LISTEN connection from the database side, as a network fault or a restarted proxy would.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // The node starts listening just after it serves: wait for its connection to show.
      await until(
        "node 2's LISTEN connection",
        async () => (await admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = 'tether-listen n2'`)).rowCount,
        (n) => n === 1,
        15_000,
      );
      const cut = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tether-listen n2'`);
      expect(cut.rowCount, "node 2's LISTEN connection was found and cut").toBe(1);
    } finally {
      await admin.end();
    }
    const run = await createRun(n1.base, config());
    const t = await until(
      'trigger',
      async () => triggerFor(run.attempts[0]!.id),
      (x) => Boolean(x),
    );
    expect(await postCallback(t!.body.callbackUrl, { success: true })).toEqual({ status: 200, result: 'accepted' });
    await watcher.waitFor(
      "node 2's dashboard gets node 1's commit",
      (ms) => ms.some((m) => m.type === 'run.updated' && m.summary.id === run.id && m.summary.status === 'succeeded'),
      20_000,
    );
    await watcher.close();
    await until(
      'LISTEN reconnected',
      async () => ((await (await fetch(`${n2.base}/healthz`)).json()) as { store: { listening: boolean } }).store.listening,
      (v) => v,
      20_000,
    );
  });
});
