/**
 * The store conformance suite: what every RunStore (contract.ts) must do, whatever holds the runs. One call per
 * implementation — `describeStoreConformance('FileRunStore', factory)` — with a factory (harness.ts) that gives each
 * test fresh storage. Every test states one property of the contract in its name; a failure names the property.
 *
 * Documents come from the engine's own pure core (runs.ts): each commit is what engine.ts commit() would send.
 * Like the engine, the suite reads a run (get) before committing it after a reopen, and creates runs in id order
 * (engine ids sort by creation time, so "newest first" is both). It never asserts timings.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { isFinalRunStatus, toRunSummary, type RunSummary } from '@tether/machine';
import {
  VersionConflictError,
  type CommitOptions,
  type DueTimer,
  type ListQuery,
  type OutboxRow,
  type ReadModel,
  type RunStore,
} from '../../src/store/contract.ts';
import type { RunDoc } from '../../src/store/types.ts';
import { within } from '../helpers/async.ts';
import type { OpenStore, StoreFactory, StoreStorage } from './harness.ts';
import { crashScript, created, next, runIdFor, type Step } from './runs.ts';

export type { StoreFactory, StoreStorage } from './harness.ts';

/** No bound: what the engine asks for at start-up (dueTimers(Infinity, Infinity), outbox(Infinity)). */
const ALL = Number.POSITIVE_INFINITY;

/** Resolves with the rejection (failing the test if `p` resolves). */
async function rejection(p: Promise<unknown>, what: string): Promise<unknown> {
  return p.then(
    () => expect.fail(`${what}: the commit resolved, but it must have been refused`),
    (e: unknown) => e,
  );
}

async function expectConflict(p: Promise<unknown>, what: string, runId: string, expected: number): Promise<VersionConflictError> {
  const e = await rejection(p, what);
  expect(e, `${what}: must be a VersionConflictError, got ${String(e)}`).toBeInstanceOf(VersionConflictError);
  const c = e as VersionConflictError;
  expect([c.code, c.runId, c.expected], what).toEqual(['TETHER_VERSION_CONFLICT', runId, expected]);
  return c;
}

/** The timers `dueTimers` must report for these runs (their newest committed documents): those of open runs. */
function timersOf(docs: Iterable<RunDoc>): DueTimer[] {
  const out: DueTimer[] = [];
  for (const doc of docs) {
    const s = toRunSummary(doc.snapshot);
    if (isFinalRunStatus(s.status)) continue;
    for (const t of doc.timers) out.push({ ...t, runId: doc.id, attempt: s.attempt });
  }
  return out;
}

function outboxOf(docs: Iterable<RunDoc>): OutboxRow[] {
  const out: OutboxRow[] = [];
  for (const doc of docs) {
    if (isFinalRunStatus(toRunSummary(doc.snapshot).status)) continue;
    for (const entry of doc.outbox) out.push({ runId: doc.id, entry });
  }
  return out;
}

const byTimer = (a: DueTimer, b: DueTimer) => a.dueAt - b.dueAt || a.runId.localeCompare(b.runId) || a.key.localeCompare(b.key);
const byOutbox = (a: OutboxRow, b: OutboxRow) => a.runId.localeCompare(b.runId) || a.entry.id.localeCompare(b.entry.id);

/**
 * dueTimers(upTo, limit) against the expected timers of every run: earliest first; only timers due at or before
 * `upTo`; exactly min(limit, due) of them, and the earliest ones (a tie at the cut may go either way).
 */
async function checkDueTimers(store: RunStore, all: DueTimer[], upTo: number, limit: number, when: string): Promise<void> {
  const got = await store.dueTimers(upTo, limit);
  const due = all.filter((t) => t.dueAt <= upTo).sort(byTimer);
  const what = `dueTimers(${upTo}, ${limit}) ${when}`;
  for (let i = 1; i < got.length; i++) expect(got[i]!.dueAt, `${what}: earliest first`).toBeGreaterThanOrEqual(got[i - 1]!.dueAt);
  expect(got.length, `${what}: how many`).toBe(Math.min(limit, due.length));
  // Every returned timer is one of the due ones, each once; and none left out was due before the last returned.
  expect([...got].sort(byTimer), `${what}: which`).toEqual(due.filter((t) => got.some((g) => g.runId === t.runId && g.key === t.key)).sort(byTimer));
  const cut = got.length ? got[got.length - 1]!.dueAt : -Infinity;
  const skipped = due.filter((t) => !got.some((g) => g.runId === t.runId && g.key === t.key));
  for (const t of skipped) expect(t.dueAt, `${what}: ${t.runId} ${t.key} left out though due before one returned`).toBeGreaterThanOrEqual(cut);
}

async function checkOutbox(store: RunStore, all: OutboxRow[], when: string): Promise<void> {
  expect([...(await store.outbox(ALL))].sort(byOutbox), `outbox(all) ${when}`).toEqual([...all].sort(byOutbox));
  const one = await store.outbox(1);
  expect(one.length, `outbox(1) ${when}`).toBe(Math.min(1, all.length));
  if (one.length) expect(all, `outbox(1) ${when}: a committed entry`).toContainEqual(one[0]);
}

/** Every page of `q` (following nextCursor), each non-empty but the first, until nextCursor is null. */
async function allPages(
  list: (q: ListQuery) => Promise<{ runs: RunSummary[]; nextCursor: string | null }> | { runs: RunSummary[]; nextCursor: string | null },
  q: ListQuery,
): Promise<RunSummary[][]> {
  const pages: RunSummary[][] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = await list({ ...q, ...(cursor !== undefined ? { cursor } : {}) });
    if (pages.length) expect(page.runs.length, `list(${JSON.stringify(q)}): a page after a nextCursor is not empty`).toBeGreaterThan(0);
    if (q.limit !== undefined) expect(page.runs.length, `list(${JSON.stringify(q)}): at most limit`).toBeLessThanOrEqual(q.limit);
    pages.push(page.runs);
    if (page.nextCursor === null) return pages;
    cursor = page.nextCursor;
  }
  throw new Error(`list(${JSON.stringify(q)}): nextCursor never became null`);
}

export function describeStoreConformance(name: string, factory: StoreFactory): void {
  describe(`store conformance: ${name}`, () => {
    let storage: StoreStorage;
    /** Instances opened and not yet closed or abandoned: closed after the test whatever happened. */
    const live = new Set<RunStore>();
    const children = new Set<ChildProcess>();

    beforeEach(async () => {
      storage = await factory();
    });
    afterEach(async () => {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) {
          const gone = new Promise((r) => c.once('exit', r));
          c.kill('SIGKILL');
          await gone;
        }
      }
      children.clear();
      for (const s of live) await s.close().catch(() => {});
      live.clear();
      await storage.cleanup();
    });

    const open = async (): Promise<OpenStore> => {
      const o = await storage.open();
      live.add(o.store);
      return o;
    };
    const close = async (store: RunStore): Promise<void> => {
      live.delete(store);
      await store.close();
    };
    const reopen = async (store: RunStore): Promise<OpenStore> => {
      await close(store);
      return open();
    };
    const crashReopen = async (store: RunStore): Promise<OpenStore> => {
      live.delete(store);
      const o = await storage.reopenAfterCrash!(store);
      live.add(o.store);
      return o;
    };
    const commit = (store: RunStore, step: Step, opts?: CommitOptions) => store.commit(step.doc.id, step.expectedVersion, step.change, opts);
    /** Run n's steps `make(created(n))`, committed in order; the last step is returned. */
    const runThrough = async (store: RunStore, first: Step, ...then: Array<(prev: RunDoc) => Step>): Promise<Step> => {
      let last = first;
      await commit(store, first);
      for (const make of then) {
        last = make(last.doc);
        await commit(store, last);
      }
      return last;
    };

    // ───────────────────────────── 1 ─────────────────────────────
    describe('1. round-trip', () => {
      it('a created run reads back exactly as committed (version 1) and exists; an unknown id reads null and does not exist — before and after a reopen', async () => {
        let { store } = await open();
        const a = created(1);
        expect(a.doc.version).toBe(1);
        expect(await store.exists(a.doc.id), 'exists() before its creation').toBe(false);
        expect(await store.get(a.doc.id), 'get() before its creation').toBeNull();
        await commit(store, a);
        const unknown = runIdFor(999);
        for (const when of ['in the session that committed it', 'after close + reopen']) {
          const got = await store.get(a.doc.id);
          expect(got, `get() ${when}`).toEqual(a.doc);
          expect(got?.version, `version ${when}`).toBe(1);
          expect(await store.exists(a.doc.id), `exists() ${when}`).toBe(true);
          expect(await store.get(unknown), `get(unknown id) ${when}`).toBeNull();
          expect(await store.exists(unknown), `exists(unknown id) ${when}`).toBe(false);
          if (when === 'in the session that committed it') ({ store } = await reopen(store));
        }
      });

      it('get() returns a copy: changing what it returned, or the committed change, changes nothing stored', async () => {
        const { store } = await open();
        const a = created(1);
        const pristine = structuredClone(a.doc);
        await commit(store, a);
        (a.change.doc.events as unknown[]).push({ planted: true });
        a.change.doc.timers.length = 0;
        const got = (await store.get(a.doc.id))!;
        expect(got, 'the committed document, as it was when committed').toEqual(pristine);
        got.events.length = 0;
        got.snapshot.context.attempts.length = 0;
        expect(await store.get(a.doc.id), 'after mutating a previous get() result').toEqual(pristine);
      });
    });

    // ───────────────────────────── 2 ─────────────────────────────
    describe('2. version conflicts', () => {
      it('a commit from a stale version, from a future version, or a create of an existing id is refused (VersionConflictError) and writes nothing — before and after a reopen', async () => {
        let { store } = await open();
        const other = await runThrough(store, created(1), next.triggered);
        const a = created(2);
        const b = await runThrough(store, a, next.triggered); // version 2
        const listed = (await store.list({ limit: 500 })).runs;
        const due = await store.dueTimers(Infinity, ALL);
        const outbox = await store.outbox(ALL);

        const check = async (when: string) => {
          const stale = next.triggerFailed(a.doc); // a version 2 made from version 1: another node's lost race
          const ahead = next.heartbeat(next.succeeded(b.doc).doc); // a version 4 made from a version 3 never committed
          const recreate = created(2, 'someone else'); // a create (from 0) of an id that exists
          const c1 = await expectConflict(commit(store, stale), `stale commit (from 1, at 2) ${when}`, a.doc.id, 1);
          const c2 = await expectConflict(commit(store, ahead), `future commit (from 3, at 2) ${when}`, a.doc.id, 3);
          await expectConflict(commit(store, recreate), `create of an existing id ${when}`, a.doc.id, 0);
          if (when === 'in the session') {
            expect([c1.actual, c2.actual], 'VersionConflictError.actual: the version the store has').toEqual([2, 2]);
          }
          expect(await store.get(a.doc.id), `get() after the refused commits ${when}`).toEqual(b.doc);
          expect(await store.get(other.doc.id), `another run after the refused commits ${when}`).toEqual(other.doc);
          expect((await store.list({ limit: 500 })).runs, `list() after the refused commits ${when}`).toEqual(listed);
          expect([...(await store.dueTimers(Infinity, ALL))].sort(byTimer), `dueTimers after the refused commits ${when}`).toEqual(
            [...due].sort(byTimer),
          );
          expect([...(await store.outbox(ALL))].sort(byOutbox), `outbox after the refused commits ${when}`).toEqual([...outbox].sort(byOutbox));
        };
        await check('in the session');
        ({ store } = await reopen(store));
        expect(await store.get(a.doc.id), 'after reopen: nothing refused was written').toEqual(b.doc); // and read, as the engine reads before committing
        await check('after close + reopen');
        // The run goes on from the version it is at.
        const c = next.succeeded(b.doc);
        await commit(store, c);
        expect(await store.get(a.doc.id), 'a commit from the current version after the refusals').toEqual(c.doc);
      });
    });

    // ───────────────────────────── 3 ─────────────────────────────
    describe('3. per-run serialisation', () => {
      it('two commits from the same version issued in the same tick: exactly one resolves, the other is refused with VersionConflictError; the winner is stored', async () => {
        let { store } = await open();
        const a = created(1);
        await commit(store, a);
        const x = next.triggered(a.doc);
        const y = next.triggerFailed(a.doc);
        const results = await Promise.allSettled([commit(store, x), commit(store, y)]);
        const won = results.map((r) => r.status === 'fulfilled');
        expect(won.filter(Boolean).length, 'exactly one of two same-version commits resolves').toBe(1);
        const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect(loser.reason, 'the other is refused with a VersionConflictError').toBeInstanceOf(VersionConflictError);
        const winner = won[0] ? x : y;
        expect(await store.get(a.doc.id), 'the winner is what is stored').toEqual(winner.doc);
        await checkDueTimers(store, timersOf([winner.doc]), Infinity, ALL, 'after the race');
        ({ store } = await reopen(store));
        expect(await store.get(a.doc.id), 'the winner is what is stored, after a reopen').toEqual(winner.doc);
        await checkDueTimers(store, timersOf([winner.doc]), Infinity, ALL, 'after the race and a reopen');
      });

      it('eight commits from the same version, issued a microtask apart: exactly one resolves', async () => {
        const { store } = await open();
        const b = await runThrough(store, created(1), next.triggered);
        const rivals = Array.from({ length: 8 }, (_, i) => next.heartbeat(b.doc, { rival: i }));
        const pending: Array<Promise<void>> = [];
        for (const r of rivals) {
          pending.push(commit(store, r));
          await Promise.resolve();
        }
        const results = await Promise.allSettled(pending);
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(winners.length, 'exactly one of eight same-version commits resolves').toBe(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
        expect(await store.get(b.doc.id)).toEqual(rivals[winners[0]!]!.doc);
      });

      it('two creates of one id in the same tick: exactly one resolves; the run is listed once, as the winner made it', async () => {
        let { store, opened } = await open();
        const x = created(1, 'first');
        const y = created(1, 'second');
        const results = await Promise.allSettled([commit(store, x), commit(store, y)]);
        expect(results.filter((r) => r.status === 'fulfilled').length, 'exactly one of two same-id creates resolves').toBe(1);
        const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect(loser.reason).toBeInstanceOf(VersionConflictError);
        const winner = results[0]!.status === 'fulfilled' ? x : y;
        expect(await store.get(x.doc.id)).toEqual(winner.doc);
        expect((await store.list({})).runs, 'listed once').toEqual([winner.change.summary]);
        expect([opened.readModel.count, opened.readModel.all()], 'the read model counts it once').toEqual([1, [winner.change.summary]]);
        ({ store } = await reopen(store));
        expect((await store.list({})).runs, 'listed once after a reopen').toEqual([winner.change.summary]);
      });

      it('reads racing a commit return either document whole and never move the version back: the next commit from the new version lands, one from the old is refused', async () => {
        let { store } = await open();
        let last = await runThrough(store, created(1), next.triggered);
        for (let round = 0; round < 3; round++) {
          // A reopen first, so the run is read from storage rather than from anything this instance committed.
          ({ store } = await reopen(store));
          expect(await store.get(last.doc.id)).toEqual(last.doc);
          const step = next.heartbeat(last.doc, { round });
          const before = Array.from({ length: 24 }, () => store.get(step.doc.id));
          const landed = commit(store, step);
          const after = Array.from({ length: 8 }, () => store.get(step.doc.id));
          const [reads] = await Promise.all([Promise.all([...before, ...after]), landed]);
          for (const r of reads) expect([last.doc, step.doc], `round ${round}: a racing read is one of the two documents`).toContainEqual(r);
          await expectConflict(
            commit(store, next.triggerFailed(last.doc)),
            `round ${round}: a commit from the version before the race`,
            step.doc.id,
            last.doc.version!,
          );
          last = step;
        }
        const done = next.succeeded(last.doc);
        await commit(store, done);
        expect(await store.get(done.doc.id), 'the commit after the races, from the newest version').toEqual(done.doc);
      });
    });

    // ───────────────────────────── 4 ─────────────────────────────
    describe('4. atomicity of a failed commit', () => {
      it('a commit refused as too large (RunTooLargeError, opts.maxBytes) writes nothing; a smaller change from the same version then lands', async () => {
        let { store, opened } = await open();
        const b = await runThrough(store, created(1), next.triggered);
        const summaryBefore = opened.readModel.get(b.doc.id);
        const dueBefore = await store.dueTimers(Infinity, ALL);
        const big = next.heartbeat(b.doc, { blob: 'x'.repeat(40_000) });
        const e = await rejection(commit(store, big, { maxBytes: 20_000 }), 'a 40 kB document under maxBytes 20 000');
        expect((e as { code?: string }).code, `the refusal is RunTooLargeError, got ${String(e)}`).toBe('TETHER_RUN_TOO_LARGE');
        expect(await store.get(b.doc.id), 'get() after the refusal: the previous document, its version unchanged').toEqual(b.doc);
        expect((await store.list({})).runs, 'list() after the refusal').toEqual([b.change.summary]);
        expect(opened.readModel.get(b.doc.id), 'the read model after the refusal').toEqual(summaryBefore);
        expect(await store.dueTimers(Infinity, ALL), 'dueTimers after the refusal').toEqual(dueBefore);
        // The same version, a change that fits.
        const small = next.heartbeat(b.doc, { p: 1 });
        await commit(store, small, { maxBytes: 20_000 });
        expect(await store.get(b.doc.id), 'the smaller change from the same version').toEqual(small.doc);
        // A new run refused as too large does not exist.
        const fat = created(2);
        expect(JSON.stringify(fat.doc).length, 'the script: a new run is over 1 000 bytes').toBeGreaterThan(1_000);
        expect(((await rejection(commit(store, fat, { maxBytes: 1_000 }), 'a create over maxBytes')) as { code?: string }).code).toBe(
          'TETHER_RUN_TOO_LARGE',
        );
        expect([await store.exists(fat.doc.id), await store.get(fat.doc.id)], 'a create refused as too large leaves no run').toEqual([false, null]);
        ({ store } = await reopen(store));
        expect(await store.get(b.doc.id), 'after a reopen').toEqual(small.doc);
        expect(
          [await store.exists(fat.doc.id), (await store.list({})).runs.map((s) => s.id)],
          'after a reopen, no trace of the refused create',
        ).toEqual([false, [b.doc.id]]);
      });

      it('a commit that fails on a real write error (faults.whileWritesFail) leaves the previous document and version intact, in the session and after a reopen; a retry from the same version lands', async (ctx) => {
        if (!storage.faults) return ctx.skip();
        const faults = storage.faults;
        let { store, opened } = await open();
        const bystander = await runThrough(store, created(1), next.triggered);
        const b = await runThrough(store, created(2), next.triggered);
        const done = next.succeeded(b.doc);
        const fresh = created(3);
        const failed = await faults.whileWritesFail(store, () =>
          commit(store, done).then(
            () => null,
            (e: unknown) => e,
          ),
        );
        expect(failed, 'the commit under a write fault must reject').not.toBeNull();
        expect(failed, 'a write failure is not a version conflict').not.toBeInstanceOf(VersionConflictError);
        const createFailed = await faults.whileWritesFail(store, () =>
          commit(store, fresh).then(
            () => null,
            (e: unknown) => e,
          ),
        );
        expect(createFailed, 'a create under a write fault must reject').not.toBeNull();

        const intact = async (when: string) => {
          expect(await store.get(b.doc.id), `get() ${when}: the previous document and version`).toEqual(b.doc);
          expect(await store.get(bystander.doc.id), `another run ${when}`).toEqual(bystander.doc);
          expect([await store.exists(fresh.doc.id), await store.get(fresh.doc.id)], `the failed create ${when}`).toEqual([false, null]);
          expect((await store.list({})).runs, `list() ${when}`).toEqual([b.change.summary, bystander.change.summary]); // newest first
          await checkDueTimers(store, timersOf([b.doc, bystander.doc]), Infinity, ALL, when);
          await checkOutbox(store, outboxOf([b.doc, bystander.doc]), when);
        };
        await intact('in the session, after the failed commit');
        expect(opened.readModel.get(b.doc.id), 'the read model after the failed commit').toEqual(b.change.summary);
        if (storage.reopenAfterCrash) {
          ({ store } = await crashReopen(store));
          await intact('after a crash following the failed commit');
        }
        // Retried from the same version, once the fault has cleared.
        await commit(store, done);
        await commit(store, fresh);
        expect(await store.get(b.doc.id), 'the retry from the same version').toEqual(done.doc);
        ({ store } = await reopen(store));
        expect(await store.get(b.doc.id), 'the retry, after a reopen').toEqual(done.doc);
        expect(await store.get(fresh.doc.id), 'the retried create, after a reopen').toEqual(fresh.doc);
        expect(await store.get(bystander.doc.id), 'the other run, after a reopen').toEqual(bystander.doc);
      });
    });

    // ───────────────────────────── 5 ─────────────────────────────
    describe('5. the event log', () => {
      it('events are appended in commit order (seq 0..n-1); a change with replacedLast (a folded heartbeat) replaces the last entry — after every commit and after a reopen', async () => {
        let { store } = await open();
        const steps: Step[] = [created(1)];
        const add = (make: (prev: RunDoc) => Step) => steps.push(make(steps[steps.length - 1]!.doc));
        add(next.triggered);
        add((d) => next.heartbeat(d, { pct: 10 }));
        add((d) => next.heartbeat(d, { pct: 20 }));
        add((d) => next.heartbeat(d, { pct: 30 }));
        add(next.succeeded);
        expect(
          steps.map((s) => s.change.replacedLast),
          'the script: two folded heartbeats',
        ).toEqual([false, false, false, true, true, false]);
        for (const s of steps) {
          await commit(store, s);
          const events = (await store.get(s.doc.id))!.events;
          expect(events, `the log after version ${s.doc.version}`).toEqual(s.doc.events);
          expect(
            events.map((e) => e.seq),
            `seq after version ${s.doc.version}`,
          ).toEqual(events.map((_, i) => i));
        }
        const final = steps[steps.length - 1]!.doc;
        const types = ['run.created', 'run.start', 'trigger.succeeded', 'heartbeat.received', 'callback.received'];
        for (const when of ['in the session', 'after a reopen']) {
          const events = (await store.get(final.id))!.events;
          expect(
            events.map((e) => e.type),
            `entry types, in order, ${when}`,
          ).toEqual(types);
          expect(events[3], `the folded heartbeat is the last one (3 in a row, 30%) ${when}`).toMatchObject({
            seq: 3,
            repeats: 3,
            event: { progress: { pct: 30 } },
          });
          expect(events, `the whole log ${when}`).toEqual(final.events);
          if (when === 'in the session') ({ store } = await reopen(store));
        }
      });
    });

    // ───────────────────────────── 6 ─────────────────────────────
    describe('6. timers and outbox', () => {
      it('dueTimers(upTo, limit) returns exactly the committed timers of open runs due by upTo, earliest first, at most limit, with runId and attempt; outbox returns the committed entries; final runs and removed entries leave — the same after close + reopen and after a crash', async () => {
        let { store } = await open();
        const last = new Map<string, RunDoc>();
        const track = (s: Step) => last.set(s.doc.id, s.doc);
        track(await runThrough(store, created(1))); // triggering: timer + outbox (attempt 1)
        track(await runThrough(store, created(2), next.triggered)); // awaitingCallback: timer
        track(await runThrough(store, created(3), next.triggerFailed, next.timerFired)); // attempt 2, triggering: timer + outbox
        track(await runThrough(store, created(4), next.triggered, next.succeeded)); // final: nothing
        track(await runThrough(store, created(5), next.cancelled)); // final from triggering: its outbox entry gone
        track(await runThrough(store, created(6), next.triggerFailed)); // retrying: the backoff timer (earliest)
        track(await runThrough(store, created(7), next.triggered)); // awaitingCallback, made final below

        const check = async (when: string) => {
          const all = timersOf(last.values());
          const sorted = [...all].sort(byTimer);
          expect(all.length, 'the script: five open runs with one timer each').toBe(5);
          await checkDueTimers(store, all, Infinity, ALL, when);
          await checkDueTimers(store, all, sorted[2]!.dueAt, ALL, `${when} (up to a due time: inclusive)`);
          await checkDueTimers(store, all, sorted[2]!.dueAt - 1, ALL, `${when} (up to just before a due time)`);
          await checkDueTimers(store, all, Infinity, 2, `${when} (limit)`);
          await checkDueTimers(store, all, sorted[0]!.dueAt - 1, ALL, `${when} (before any is due)`);
          const attempt2 = (await store.dueTimers(Infinity, ALL)).find((t) => t.runId === runIdFor(3));
          expect(attempt2?.attempt, `${when}: the DueTimer carries the run's current attempt`).toBe(2);
          await checkOutbox(store, outboxOf(last.values()), when);
        };
        await check('after the first commits');
        // Later commits: run 1's trigger is answered (its entry leaves the outbox, its timer changes key), run 6 and
        // run 7 become final (they leave dueTimers).
        track(await runThrough(store, next.triggered(last.get(runIdFor(1))!)));
        track(await runThrough(store, next.cancelled(last.get(runIdFor(6))!)));
        track(await runThrough(store, next.succeeded(last.get(runIdFor(7))!)));
        const open3 = timersOf(last.values());
        expect(open3.map((t) => t.runId).sort(), 'the script: runs 1, 2, 3 open').toEqual([1, 2, 3].map(runIdFor));
        const recheck = async (when: string) => {
          await checkDueTimers(store, open3, Infinity, ALL, when);
          await checkDueTimers(store, open3, Infinity, 1, `${when} (limit 1)`);
          await checkOutbox(store, outboxOf(last.values()), when);
          expect(
            (await store.outbox(ALL)).map((o) => o.runId),
            `${when}: only run 3's trigger is still in the outbox`,
          ).toEqual([runIdFor(3)]);
          const t1 = (await store.dueTimers(Infinity, ALL)).find((t) => t.runId === runIdFor(1));
          expect(t1?.key, `${when}: run 1's timer as its last commit left it`).toMatch(/awaitingCallback/);
        };
        await recheck('after the later commits');
        ({ store } = await reopen(store));
        await recheck('after close + reopen');
        // After a reopen the runs go on (read first, as the engine does): the new commit's timers replace the old.
        for (const id of last.keys()) expect(await store.get(id), `${id} after close + reopen`).toEqual(last.get(id));
        track(await runThrough(store, next.triggered(last.get(runIdFor(3))!)));
        expect((await store.outbox(ALL)).length, 'a commit after the reopen empties the outbox').toBe(0);
        await checkDueTimers(store, timersOf(last.values()), Infinity, ALL, 'after a commit following the reopen');
        if (storage.reopenAfterCrash) {
          ({ store } = await crashReopen(store));
          await checkDueTimers(store, timersOf(last.values()), Infinity, ALL, 'after a crash');
          await checkOutbox(store, outboxOf(last.values()), 'after a crash');
          for (const id of last.keys()) expect(await store.get(id), `${id} after a crash`).toEqual(last.get(id));
        }
      });
    });

    // ───────────────────────────── 7 ─────────────────────────────
    describe('7. listing', () => {
      /** 23 runs, created in id order: every 3rd named "Nightly Export", every 4th succeeded, every 7th cancelled. */
      const seed = async (store: RunStore) => {
        const summaries = new Map<string, RunSummary>();
        for (let n = 1; n <= 23; n++) {
          const first = created(n, n % 3 === 0 ? `Nightly Export ${n}` : `sync ${n}`);
          const then = n % 4 === 0 ? [next.triggered, next.succeeded] : n % 7 === 0 ? [next.cancelled] : n % 2 === 0 ? [next.triggered] : [];
          summaries.set(first.doc.id, (await runThrough(store, first, ...then)).change.summary);
        }
        return summaries;
      };
      /** Newest first: the ids in descending creation order. */
      const newestFirst = (summaries: Map<string, RunSummary>, keep: (s: RunSummary) => boolean = () => true) =>
        [...summaries.values()].filter(keep).reverse();

      it('list() is newest first, honours limit, and following nextCursor covers every run exactly once, ending with nextCursor null — also with status and name filters, and after a reopen', async () => {
        let { store } = await open();
        const summaries = await seed(store);
        const queries: Array<{ q: ListQuery; keep: (s: RunSummary) => boolean }> = [
          { q: {}, keep: () => true },
          { q: { status: 'running' }, keep: (s) => s.status === 'running' },
          { q: { status: 'succeeded' }, keep: (s) => s.status === 'succeeded' },
          { q: { status: 'cancelled' }, keep: (s) => s.status === 'cancelled' },
          { q: { status: 'failed' }, keep: () => false },
          { q: { name: 'nightly export' }, keep: (s) => s.name.startsWith('Nightly Export') },
          { q: { name: 'EXPORT 1' }, keep: (s) => s.name.toLowerCase().includes('export 1') },
          { q: { name: 'Nightly', status: 'succeeded' }, keep: (s) => s.name.startsWith('Nightly') && s.status === 'succeeded' },
        ];
        for (const when of ['in the session', 'after close + reopen']) {
          const whole = await store.list({});
          expect(whole.runs, `list({}) ${when}: every run, newest first, as last committed`).toEqual(newestFirst(summaries));
          expect(whole.nextCursor, `list({}) ${when}: one page`).toBeNull();
          const five = await store.list({ limit: 5 });
          expect(five.runs, `list({limit: 5}) ${when}: the 5 newest`).toEqual(newestFirst(summaries).slice(0, 5));
          expect(five.nextCursor, `list({limit: 5}) ${when}: a cursor to the rest`).not.toBeNull();
          for (const { q, keep } of queries) {
            const want = newestFirst(summaries, keep);
            for (const limit of [1, 5, 23, 50]) {
              const pages = await allPages((x) => store.list(x), { ...q, limit });
              const ids = pages.flat().map((s) => s.id);
              expect(new Set(ids).size, `list(${JSON.stringify({ ...q, limit })}) ${when}: no run twice`).toBe(ids.length);
              expect(pages.flat(), `list(${JSON.stringify({ ...q, limit })}) ${when}: every matching run once, newest first`).toEqual(want);
              if (want.length)
                expect(
                  pages.map((p) => p.length),
                  `list(${JSON.stringify({ ...q, limit })}) ${when}: full pages but the last`,
                ).toEqual(Array.from({ length: Math.ceil(want.length / limit) }, (_, i) => Math.min(limit, want.length - i * limit)));
            }
          }
          if (when === 'in the session') ({ store } = await reopen(store));
        }
      });

      it('the read model from open() agrees with list(), get() and counts — at open, after further commits, and after a reopen', async () => {
        let { store, opened } = await open();
        const summaries = await seed(store);
        const agree = async (rm: ReadModel, when: string) => {
          for (const q of [{}, { limit: 4 }, { status: 'running', limit: 3 }, { name: 'export' }] as ListQuery[]) {
            expect(await allPages((x) => rm.list(x), q), `readModel.list(${JSON.stringify(q)}) ${when}`).toEqual(
              await allPages((x) => store.list(x), q),
            );
          }
          expect(rm.all(), `readModel.all() ${when}: every summary, newest first`).toEqual(newestFirst(summaries));
          for (const [id, s] of summaries) expect(rm.get(id), `readModel.get(${id}) ${when}`).toEqual(s);
          expect(rm.get(runIdFor(999)), `readModel.get(unknown) ${when}`).toBeUndefined();
          expect(rm.count, `readModel.count ${when}`).toBe(summaries.size);
          expect(rm.openCount, `readModel.openCount ${when}`).toBe([...summaries.values()].filter((s) => !isFinalRunStatus(s.status)).length);
        };
        await agree(opened.readModel, 'in the session that committed them');
        ({ store, opened } = await reopen(store));
        await agree(opened.readModel, 'from open() after a reopen');
        // Commits after open() show in the read model open() returned (the engine never writes to it).
        const id = runIdFor(1);
        const doc = (await store.get(id))!;
        const done = next.succeeded(doc);
        await commit(store, done);
        summaries.set(id, done.change.summary);
        const added = created(24, 'Nightly Export 24');
        await commit(store, added);
        summaries.set(added.doc.id, added.change.summary);
        await agree(opened.readModel, 'after commits following open()');
        expect(opened.readModel.list({ limit: 1 }).runs, 'the newest run is the one created last').toEqual([added.change.summary]);
      });
    });

    // ───────────────────────────── 8 ─────────────────────────────
    describe('8. durability across SIGKILL', () => {
      it('a child process commits runs on the same storage and is SIGKILLed: reopening finds every run it acknowledged, with its document, version, timers and outbox, and nothing half-made', async (ctx) => {
        if (!storage.crashChild) return ctx.skip();
        // Something committed before the child, by this process: it must survive the child's crash too.
        let { store } = await open();
        const before = await runThrough(store, created(1), next.triggered);
        await close(store);

        const first = 100;
        const count = 2000;
        const KILL_AFTER = 60;
        const child = storage.crashChild.spawn({ first, count });
        children.add(child);
        const acked: string[] = [];
        let buffered = '';
        let reached!: () => void;
        const enough = new Promise<void>((r) => (reached = r));
        child.stdout!.setEncoding('utf8');
        child.stdout!.on('data', (chunk: string) => {
          buffered += chunk;
          const lines = buffered.split('\n');
          buffered = lines.pop()!; // a torn last line is not an acknowledgement
          acked.push(...lines.filter(Boolean));
          if (acked.length >= KILL_AFTER) reached();
        });
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
          child.once('exit', (code, signal) => r({ code, signal })),
        );
        const stdoutDone = new Promise<void>((r) => child.stdout!.once('close', () => r()));
        await within(
          Promise.race([
            enough,
            exited.then((x) => Promise.reject(new Error(`the crash child exited (${x.signal ?? x.code}) after ${acked.length} ids`))),
          ]),
          60_000,
          `${KILL_AFTER} acknowledged ids from the crash child`,
        );
        child.kill('SIGKILL');
        const { signal } = await exited;
        await stdoutDone;
        expect(signal, 'the child was still committing when it was killed (raise count if it finished first)').toBe('SIGKILL');
        expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER);

        const scripts = new Map<string, Step[]>();
        for (let n = first; n < first + count; n++) {
          const steps = crashScript(n);
          scripts.set(steps[0]!.doc.id, steps);
        }
        for (const id of acked) expect(scripts.has(id), `the child printed ${JSON.stringify(id)}, which is no run of its workload`).toBe(true);

        ({ store } = await open());
        const present = new Map<string, RunDoc>([[before.doc.id, before.doc]]);
        expect(await store.get(before.doc.id), 'a run committed before the child ran').toEqual(before.doc);
        for (const id of acked) {
          const want = scripts.get(id)!.at(-1)!.doc;
          const got = await store.get(id);
          expect(got, `acknowledged run ${id}: its last document`).toEqual(want);
          expect(got?.version, `acknowledged run ${id}: its version`).toBe(want.version);
          expect(await store.exists(id), `acknowledged run ${id} exists`).toBe(true);
          present.set(id, want);
        }
        // Runs the child had started but not acknowledged: absent, or exactly one of their committed versions.
        for (const [id, steps] of scripts) {
          if (present.has(id)) continue;
          const got = await store.get(id);
          if (got === null) {
            expect(await store.exists(id), `unacknowledged run ${id}: no document, so it must not exist`).toBe(false);
            continue;
          }
          expect(
            steps.map((s) => s.doc),
            `unacknowledged run ${id}: a whole committed version, not a mix`,
          ).toContainEqual(got);
          present.set(id, got);
        }
        // Every run found, and nothing else: listed with its summary, its timers due, its outbox.
        const listed = (await allPages((x) => store.list(x), { limit: 500 })).flat();
        expect(listed.map((s) => s.id).sort(), 'list() after the crash: exactly the runs found').toEqual([...present.keys()].sort());
        for (const s of listed) expect(s, `summary of ${s.id} after the crash`).toEqual(toRunSummary(present.get(s.id)!.snapshot));
        await checkDueTimers(store, timersOf(present.values()), Infinity, ALL, 'after the crash');
        await checkOutbox(store, outboxOf(present.values()), 'after the crash');
        // And the acknowledged runs go on from their versions.
        const goOn = scripts.get(acked[0]!)!.at(-1)!.doc;
        if (!isFinalRunStatus(toRunSummary(goOn.snapshot).status)) await commit(store, next.cancelled(goOn));
      });
    });

    // ───────────────────────────── 10 ─────────────────────────────
    describe('10. deletion', () => {
      it('delete(runId, version) removes a run — get null, exists false, not listed, no timers or outbox — refuses a stale version, and holds after a reopen and after a crash; the other runs are untouched', async () => {
        let { store, opened } = await open();
        const keep = await runThrough(store, created(1), next.triggered);
        const gone = await runThrough(store, created(2), next.triggered, next.succeeded);
        const later = await runThrough(store, created(3), next.triggerFailed);
        await expectConflict(
          store.delete(gone.doc.id, (gone.doc.version ?? 0) - 1),
          'delete from a stale version',
          gone.doc.id,
          (gone.doc.version ?? 0) - 1,
        );
        expect(await store.get(gone.doc.id), 'a refused delete deletes nothing').toEqual(gone.doc);
        await store.delete(gone.doc.id, gone.doc.version ?? 0);
        const absent = async (when: string) => {
          expect([await store.get(gone.doc.id), await store.exists(gone.doc.id)], `the deleted run ${when}`).toEqual([null, false]);
          expect(
            (await store.list({})).runs.map((r) => r.id),
            `list() ${when}`,
          ).toEqual([later.doc.id, keep.doc.id]);
          expect(await store.get(keep.doc.id), `another run ${when}`).toEqual(keep.doc);
          await checkDueTimers(store, timersOf([keep.doc, later.doc]), Infinity, ALL, when);
          await checkOutbox(store, outboxOf([keep.doc, later.doc]), when);
        };
        await absent('in the session');
        expect(opened.readModel.get(gone.doc.id), 'the read model forgot it').toBeUndefined();
        expect(opened.readModel.count).toBe(2);
        ({ store, opened } = await reopen(store));
        await absent('after a reopen');
        expect(opened.readModel.count).toBe(2);
        if (storage.reopenAfterCrash) {
          const other = await runThrough(store, created(4), next.triggered, next.cancelled);
          await store.delete(other.doc.id, other.doc.version ?? 0);
          ({ store } = await crashReopen(store));
          expect([await store.get(other.doc.id), await store.exists(other.doc.id)], 'deleted just before a crash').toEqual([null, false]);
          await absent('after a crash');
        }
      });
    });

    // ───────────────────────────── 9 ─────────────────────────────
    describe('9. commit cost', () => {
      it('bytes written per commit of the same-sized change are the same (±10%) with 100 and with 3,000 stored runs', async (ctx) => {
        if (!storage.bytesWritten) return ctx.skip();
        const probe = storage.bytesWritten.bind(storage);
        const { store } = await open();
        // Every run the same size: one name, ids of one length.
        const createAll = async (from: number, to: number) => {
          const made = new Map<number, Step>();
          for (let n = from; n < to; n += 200) {
            const batch: Array<Promise<void>> = [];
            for (let k = n; k < Math.min(to, n + 200); k++) {
              const s = created(k, 'cost');
              made.set(k, s);
              batch.push(commit(store, s));
            }
            await Promise.all(batch);
          }
          return made;
        };
        const measure = async (steps: Step[]) => {
          const out: number[] = [];
          for (const s of steps) {
            const at = await probe();
            await commit(store, s);
            out.push((await probe()) - at);
          }
          return out;
        };
        const cost = async (runs: Map<number, Step>, ns: number[]) => ({
          update: await measure(ns.map((n) => next.triggered(runs.get(n)!.doc))),
          create: await measure(ns.map((n) => created(n + 100_000, 'cost'))),
        });
        const small = await createAll(1, 101);
        const at100 = await cost(small, [10, 20, 30, 40, 50]);
        const large = await createAll(101, 3001);
        expect((await store.list({ limit: 500 })).runs.length, 'the store holds more than 500 runs').toBe(500);
        const at3000 = await cost(large, [1000, 1500, 2000, 2500, 2999]);
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
        for (const kind of ['update', 'create'] as const) {
          const a = median(at100[kind]);
          const b = median(at3000[kind]);
          expect(a, `${kind}: bytes per commit measured (${at100[kind].join(', ')})`).toBeGreaterThan(0);
          expect(
            Math.abs(b - a) / a,
            `${kind} commit: ${a} bytes with 100 runs stored, ${b} with 3,000 (${at3000[kind].join(', ')})`,
          ).toBeLessThanOrEqual(0.1);
        }
      });
    });
  });
}
