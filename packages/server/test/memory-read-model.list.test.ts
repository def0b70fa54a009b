/**
 * MemoryReadModel.list, the one list implementation of every store, against an oracle that filters and fully sorts:
 * any set of runs (ids made as newRunId makes them, and some that do not encode their createdAt), any filters, every
 * sort, any page size — following nextCursor page by page yields exactly the oracle's order, `total` is the oracle's
 * count on every page; also after runs are updated and deleted. And the cursor rules: one made for another sort, or that
 * is not a cursor, is refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFinalRunStatus, RUN_STATUSES, type RunSummary } from '@tether/machine';
import { RUN_LIST_SORTS, type RunListSort } from '@tether/machine/protocol';
import { cursorProblem, ListCursorError, MemoryReadModel } from '../src/store/memory-read-model.ts';
import type { ListQuery } from '../src/store/contract.ts';

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();
const NAMES = ['Nightly Export', 'nightly import', 'EXPORT audit', 'sync'];

/** An id as newRunId makes it (its creation ms in base36, then 8 chars), or, for `misfit`, one that does not tell the time. */
const idFor = (created: number, n: number, misfit: boolean) =>
  misfit ? `run_zz${n.toString(36).padStart(6, '0')}` : `run_${created.toString(36).padStart(9, '0')}${n.toString(32).padStart(8, '0')}`;

interface Spec {
  /** Creation in seconds after T0: few values, so that creation times tie. */
  created: number;
  status: (typeof RUN_STATUSES)[number];
  /** Seconds from creation to the last commit (and to the end, for a final run): ties too. */
  took: number;
  name: number;
  misfit: boolean;
}

const summaryOf = (sp: Spec, n: number): RunSummary => {
  const created = T0 + sp.created * 1000;
  const final = isFinalRunStatus(sp.status);
  return {
    id: idFor(created, n, sp.misfit),
    name: NAMES[sp.name]!,
    status: sp.status,
    state: sp.status === 'running' ? 'awaitingCallback' : sp.status,
    attempt: 1,
    maxAttempts: 3,
    nextDueAt: null,
    lastMessage: '',
    overallState: '',
    createdAt: iso(created),
    updatedAt: iso(created + sp.took * 1000),
    finishedAt: final ? iso(created + sp.took * 1000) : null,
    exhausted: false,
  };
};

const spec = (misfits: boolean): fc.Arbitrary<Spec> =>
  fc.record({
    created: fc.integer({ min: 0, max: 12 }),
    status: fc.constantFrom(...RUN_STATUSES),
    took: fc.integer({ min: 0, max: 5 }),
    name: fc.integer({ min: 0, max: NAMES.length - 1 }),
    misfit: misfits ? fc.boolean() : fc.constant(false),
  });

/** The specification, spelled out: filter, then sort everything. */
function oracle(all: readonly RunSummary[], q: ListQuery): RunSummary[] {
  const sort = q.sort ?? '-createdAt';
  const dir = sort.startsWith('-') ? -1 : 1;
  const field = sort.replace(/^-/, '');
  const key = (s: RunSummary): number | null => {
    // createdAt order is id order: Tether's ids encode the creation ms and break its ties.
    if (field === 'createdAt') return 0;
    if (field === 'updatedAt') return Date.parse(s.updatedAt);
    if (field === 'status') return RUN_STATUSES.indexOf(s.status);
    return isFinalRunStatus(s.status) && s.finishedAt ? Date.parse(s.finishedAt) - Date.parse(s.createdAt) : null;
  };
  const name = q.name?.toLowerCase();
  return all
    .filter(
      (s) =>
        (!q.status || s.status === q.status) &&
        (!name || s.name.toLowerCase().includes(name)) &&
        (q.createdAfter === undefined || Date.parse(s.createdAt) >= q.createdAfter) &&
        (q.createdBefore === undefined || Date.parse(s.createdAt) < q.createdBefore),
    )
    .sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (ka === null && kb !== null) return 1;
      if (kb === null && ka !== null) return -1;
      if (ka !== null && kb !== null && ka !== kb) return (ka - kb) * dir;
      return (a.id < b.id ? -1 : 1) * dir;
    });
}

/** Every page of `q`, following nextCursor; checks page sizes and `total` on the way. */
function pages(rm: MemoryReadModel, q: ListQuery, want: number): RunSummary[] {
  const out: RunSummary[] = [];
  const limit = q.limit ?? 50;
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = rm.list({ ...q, ...(cursor ? { cursor } : {}) });
    expect(page.total, 'total on every page').toBe(want);
    if (page.nextCursor !== null) expect(page.runs.length, 'a page before the last is full').toBe(limit);
    else expect(page.runs.length).toBeLessThanOrEqual(limit);
    out.push(...page.runs);
    if (page.nextCursor === null) return out;
    cursor = page.nextCursor;
  }
  throw new Error('nextCursor never became null');
}

const query: fc.Arbitrary<ListQuery> = fc
  .record(
    {
      status: fc.constantFrom(...RUN_STATUSES),
      name: fc.constantFrom('nightly', 'EXPORT', 'x'),
      createdAfter: fc.integer({ min: -1, max: 13 }).map((s) => T0 + s * 1000),
      createdBefore: fc.integer({ min: 0, max: 14 }).map((s) => T0 + s * 1000),
      sort: fc.constantFrom<RunListSort>(...RUN_LIST_SORTS),
    },
    { requiredKeys: [] },
  )
  .chain((q) => fc.integer({ min: 1, max: 7 }).map((limit) => ({ ...q, limit })));

describe('MemoryReadModel.list against the oracle', () => {
  it('any runs, filters, sort and page size: the pages are the oracle order, each run once, total exact', () => {
    fc.assert(
      fc.property(fc.array(spec(true), { maxLength: 40 }), fc.array(query, { minLength: 1, maxLength: 6 }), (specs, queries) => {
        const all = specs.map(summaryOf);
        // In any order: the constructor sorts by id.
        const rm = new MemoryReadModel([...all].reverse());
        for (const q of queries) {
          const want = oracle(all, q);
          expect(
            pages(rm, q, want.length).map((s) => s.id),
            JSON.stringify(q),
          ).toEqual(want.map((s) => s.id));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('after runs are created out of order, updated and deleted', () => {
    fc.assert(
      fc.property(
        fc.array(spec(false), { minLength: 1, maxLength: 30 }),
        fc.array(fc.tuple(fc.constantFrom('update', 'remove', 'recreate'), fc.nat(), spec(false)), { maxLength: 30 }),
        fc.array(query, { minLength: 1, maxLength: 4 }),
        (specs, ops, queries) => {
          const made = specs.map(summaryOf);
          const rm = new MemoryReadModel();
          // Puts in a shuffled order, as runs of several nodes reach one read model.
          for (const s of [...made].sort((a, b) => (a.name + a.id < b.name + b.id ? -1 : 1))) rm.put(s, true);
          const live = new Map(made.map((s) => [s.id, s]));
          for (const [op, i, sp] of ops) {
            const target = made[i % made.length]!;
            if (op === 'remove') {
              rm.remove(target.id);
              live.delete(target.id);
            } else if (op === 'update' && live.has(target.id)) {
              const next = { ...summaryOf({ ...sp, created: (Date.parse(target.createdAt) - T0) / 1000 }, 0), id: target.id };
              rm.put(next, false);
              live.set(target.id, next);
            } else if (op === 'recreate' && !live.has(target.id)) {
              rm.put(target, true);
              live.set(target.id, target);
            }
          }
          const all = [...live.values()];
          expect(rm.count).toBe(all.length);
          expect(rm.all().map((s) => s.id)).toEqual(oracle(all, {}).map((s) => s.id));
          for (const q of queries) {
            const want = oracle(all, q);
            expect(
              pages(rm, q, want.length).map((s) => s.id),
              JSON.stringify(q),
            ).toEqual(want.map((s) => s.id));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('MemoryReadModel.list cursors', () => {
  const all = Array.from({ length: 9 }, (_, n) =>
    summaryOf({ created: n, status: RUN_STATUSES[n % 4]!, took: n % 3, name: n % NAMES.length, misfit: false }, n),
  );

  it('the default sort pages by the last id, as it always has; a deleted last id still continues after it', () => {
    const rm = new MemoryReadModel(all);
    const first = rm.list({ limit: 4 });
    expect(first.nextCursor).toBe(first.runs[3]!.id);
    rm.remove(first.runs[3]!.id);
    const second = rm.list({ limit: 4, cursor: first.nextCursor! });
    expect(second.runs.map((s) => s.id)).toEqual(
      oracle(all, {})
        .slice(4, 8)
        .map((s) => s.id),
    );
    expect(second.total).toBe(8);
  });

  it('a cursor of another sort, or one that is not a cursor, is refused with what is wrong', () => {
    const rm = new MemoryReadModel(all);
    const byDuration = rm.list({ limit: 2, sort: 'duration' }).nextCursor!;
    expect(cursorProblem('duration', byDuration)).toBeNull();
    expect(cursorProblem('-updatedAt', byDuration)).toMatch(/^was made for sort=duration, not sort=-updatedAt/);
    expect(cursorProblem('-createdAt', byDuration)).toMatch(/^was made for sort=duration, not sort=-createdAt/);
    expect(cursorProblem('status', all[0]!.id)).toMatch(/^is not a nextCursor of sort=status/);
    expect(cursorProblem('status', 'garbage')).toMatch(/^is not a nextCursor of sort=status/);
    // The right shape with a key of the wrong kind.
    expect(cursorProblem('updatedAt', Buffer.from(JSON.stringify(['updatedAt', 'running', all[0]!.id])).toString('base64url'))).not.toBeNull();
    expect(() => rm.list({ sort: 'updatedAt', cursor: byDuration })).toThrow(ListCursorError);
    // The default sort's cursor is any place among the ids (older clients send what they were given).
    expect(cursorProblem('-createdAt', all[4]!.id)).toBeNull();
  });
});
