/**
 * The in-process ReadModel (the file store's, and the PostgreSQL store's cache): every run's summary in memory, kept
 * sorted by id, which is creation order (ids sort by creation time).
 *
 * Listing is served without sorting all runs: the default order (and `createdAt`) walks the sorted runs from the
 * cursor; every other order makes one pass keeping the best `limit + 1` after the cursor in a bounded heap. `total` is
 * a counter when no filter (or only `status`) is given, otherwise counted in that same one pass.
 */
import { isFinalRunStatus, RUN_STATUSES, type RunSummary } from '@tether/machine';
import { DEFAULT_RUN_LIST_SORT, DERIVED_PREDICATES, RUN_LIST_SORTS, type RunListSort } from '@tether/machine/protocol';
import type { ListQuery, ReadModel, RunPage } from './contract.ts';

/**
 * A summary with what listing compares, computed once per commit instead of once per run per request. The times are
 * parsed on first use (createdOf, updatedOf, durationOf): most lists never need them, and parsing 100k of each would
 * add to every start-up.
 */
interface Row {
  s: RunSummary;
  /** The name lower-cased, for the case-insensitive name filter. */
  name: string;
  /** Index in RUN_STATUSES (the `status` order). */
  status: number;
  /** Deleted: its place in `order` is kept until the next compaction. */
  gone: boolean;
  created: number | undefined;
  updated: number | undefined;
  /** finishedAt − createdAt of a final run; null while it is not final. */
  duration: number | null | undefined;
}

const createdOf = (r: Row): number => (r.created ??= Date.parse(r.s.createdAt));
const updatedOf = (r: Row): number => (r.updated ??= Date.parse(r.s.updatedAt));
function durationOf(r: Row): number | null {
  if (r.duration === undefined) {
    const finished = r.s.finishedAt === null ? NaN : Date.parse(r.s.finishedAt);
    r.duration = isFinalRunStatus(r.s.status) && Number.isFinite(finished) ? finished - createdOf(r) : null;
  }
  return r.duration;
}

type Field = 'createdAt' | 'updatedAt' | 'status' | 'duration';
/** 1: ascending; -1: descending. */
type Direction = 1 | -1;

const parseSort = (sort: RunListSort): { field: Field; dir: Direction } =>
  sort.startsWith('-') ? { field: sort.slice(1) as Field, dir: -1 } : { field: sort as Field, dir: 1 };

const statusRank = (status: string): number => {
  const i = (RUN_STATUSES as readonly string[]).indexOf(status);
  return i < 0 ? RUN_STATUSES.length : i;
};

const keyOf = (r: Row, field: Field): number | null =>
  field === 'createdAt' ? createdOf(r) : field === 'updatedAt' ? updatedOf(r) : field === 'status' ? r.status : durationOf(r);

/**
 * Negative when (ka, ida) comes first in the order `dir`. A missing key (a duration of a run not final) comes after
 * every present one in both directions; ties, missing keys included, go by id in the order's direction.
 */
function order(ka: number | null, ida: string, kb: number | null, idb: string, dir: Direction): number {
  if (ka === null || kb === null) {
    if (ka !== kb) return ka === null ? 1 : -1;
  } else if (ka !== kb) return ka < kb ? -dir : dir;
  return ida === idb ? 0 : ida < idb ? -dir : dir;
}

/** The first index of `rows` (sorted by id) whose id is >= `id` (rows.length if none). */
function lowerBound(rows: readonly Row[], id: string): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.s.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ─────────────────────────────── cursors ───────────────────────────────

/** Where the previous page ended, in an order other than the default: the last run's key and id. */
interface Position {
  key: number | null;
  id: string;
}

/** The wire key of a position: ms for times and durations (null: none), the status name for `status`. */
type WireKey = number | string | null;

const encodeCursor = (sort: RunListSort, r: Row): string => {
  const { field } = parseSort(sort);
  const key: WireKey = field === 'status' ? r.s.status : keyOf(r, field);
  return Buffer.from(JSON.stringify([sort, key, r.s.id])).toString('base64url');
};

/** A cursor made by encodeCursor, as [sort, key, id]; undefined for anything else (an id, garbage). */
function decodeCursor(cursor: string): [RunListSort, WireKey, string] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 3) return undefined;
  const [sort, key, id] = v as unknown[];
  if (!(RUN_LIST_SORTS as readonly unknown[]).includes(sort) || typeof id !== 'string') return undefined;
  if (key !== null && typeof key !== 'string' && !(typeof key === 'number' && Number.isFinite(key))) return undefined;
  return [sort as RunListSort, key as WireKey, id];
}

/** The position a cursor of `sort` stands for; a string saying what is wrong with it otherwise. */
function positionOf(sort: RunListSort, cursor: string): Position | string {
  const decoded = decodeCursor(cursor);
  if (sort === DEFAULT_RUN_LIST_SORT) {
    // The default order's cursor is the page's last id, as it always was: any other string is a place among the ids.
    if (decoded) return `was made for sort=${decoded[0]}, not sort=${sort}: keep the sort of the first page, or start again without a cursor`;
    return { key: null, id: cursor };
  }
  if (!decoded) return `is not a nextCursor of sort=${sort}: pass the previous page's nextCursor unchanged, with the same sort`;
  const [made, key, id] = decoded;
  if (made !== sort) return `was made for sort=${made}, not sort=${sort}: keep the sort of the first page, or start again without a cursor`;
  const { field } = parseSort(sort);
  if (field === 'status') {
    if (typeof key !== 'string' || !(RUN_STATUSES as readonly string[]).includes(key)) return `is not a nextCursor of sort=${sort}`;
    return { key: statusRank(key), id };
  }
  if (typeof key === 'string' || (key === null && field !== 'duration')) return `is not a nextCursor of sort=${sort}`;
  return { key, id };
}

/** Why `cursor` cannot continue the list in `sort` (a message for `query.cursor`); null when it can. */
export function cursorProblem(sort: RunListSort, cursor: string): string | null {
  const p = positionOf(sort, cursor);
  return typeof p === 'string' ? p : null;
}

/** A cursor that does not continue the list in the order asked (the route checks first and answers 400 query.cursor). */
export class ListCursorError extends Error {
  constructor(readonly problem: string) {
    super(`cursor ${problem}`);
    this.name = 'ListCursorError';
  }
}

// ─────────────────────────────── ids and time ───────────────────────────────

const ID_TIME_DIGITS = 9;
const ID_TIME_MAX = 36 ** ID_TIME_DIGITS;

/** The smallest id created at `ms` or later (newRunId: `run_` + 9 base36 digits of ms + random). */
const idFloor = (ms: number): string => `run_${ms.toString(36).padStart(ID_TIME_DIGITS, '0')}`;

/** True when the id encodes exactly the run's createdAt, so a created range is a range of ids. Read by hand: it runs once per run. */
function idTellsCreatedAt(id: string, created: number): boolean {
  if (!id.startsWith('run_') || id.length < 4 + ID_TIME_DIGITS) return false;
  let ms = 0;
  for (let i = 4; i < 4 + ID_TIME_DIGITS; i++) {
    const c = id.charCodeAt(i);
    // Lower-case base36 only: those are the digits whose character order is their numeric order.
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : -1;
    if (digit < 0) return false;
    ms = ms * 36 + digit;
  }
  return ms === created;
}

// Every key present, the times unparsed: Object.assign onto a row a commit updates clears what was parsed of it.
const toRow = (s: RunSummary): Row => ({
  s,
  name: s.name.toLowerCase(),
  status: statusRank(s.status),
  gone: false,
  created: undefined,
  updated: undefined,
  duration: undefined,
});

// ─────────────────────────────── the bounded selection ───────────────────────────────

/** The `cap` first rows of an order seen so far: a binary heap whose top is the last of them (the first to drop). */
class FirstRows {
  private readonly heap: Row[] = [];
  constructor(
    private readonly cap: number,
    private readonly cmp: (a: Row, b: Row) => number,
  ) {}

  offer(r: Row): void {
    const h = this.heap;
    if (h.length < this.cap) {
      h.push(r);
      let i = h.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (this.cmp(h[i]!, h[parent]!) <= 0) break;
        [h[i], h[parent]] = [h[parent]!, h[i]!];
        i = parent;
      }
      return;
    }
    // Most rows of a large list lose to the top: one comparison each.
    if (this.cmp(r, h[0]!) >= 0) return;
    h[0] = r;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const rt = l + 1;
      let last = i;
      if (l < h.length && this.cmp(h[l]!, h[last]!) > 0) last = l;
      if (rt < h.length && this.cmp(h[rt]!, h[last]!) > 0) last = rt;
      if (last === i) break;
      [h[i], h[last]] = [h[last]!, h[i]!];
      i = last;
    }
  }

  /** In order. */
  sorted(): Row[] {
    return this.heap.slice().sort(this.cmp);
  }
}

// ─────────────────────────────── the read model ───────────────────────────────

export class MemoryReadModel implements ReadModel {
  private readonly rows = new Map<string, Row>();
  private readonly keys = new Map<string, string>();
  /**
   * Every run's row sorted by id (creation order), the same objects as in `rows` (a commit updates them in place), so
   * a walk reads rows without a lookup per run. A deleted run's row stays, marked gone, until the next compaction.
   */
  private order: Row[] = [];
  private open = 0;
  /** Rows in `order` marked gone. */
  private removed = 0;
  private readonly byStatus = new Map<string, number>();
  /**
   * Runs whose id does not encode their createdAt (none that Tether made): while any is listed, ranges are checked run
   * by run. Found on the first created range asked for, kept up to date from then on.
   */
  private misfits: Set<string> | undefined;

  /** Loads what the store knew at start-up, in creation order or close to it. */
  constructor(initial: readonly RunSummary[] = []) {
    for (const s of initial) {
      const r = toRow(s);
      this.rows.set(s.id, r);
      this.order.push(r);
      this.counted(undefined, r);
    }
    // The store usually returns them in order already (100k sorted in O(n), not O(n log n)).
    if (this.order.some((r, i) => i > 0 && r.s.id < this.order[i - 1]!.s.id)) this.order.sort((a, b) => (a.s.id < b.s.id ? -1 : 1));
  }

  get count(): number {
    return this.rows.size;
  }

  get openCount(): number {
    return this.open;
  }

  remove(runId: string): void {
    const r = this.rows.get(runId);
    if (!r) return;
    this.rows.delete(runId);
    this.counted(r, undefined);
    r.gone = true;
    if (r.s.idempotencyKey !== undefined && this.keys.get(r.s.idempotencyKey) === runId) this.keys.delete(r.s.idempotencyKey);
    // The order is compacted only once most of it is gone: a retention sweep deleting thousands stays O(n) in all.
    this.removed++;
    if (this.removed > 1000 && this.removed * 2 > this.order.length) {
      this.order = this.order.filter((x) => !x.gone);
      this.removed = 0;
    }
  }

  byIdempotencyKey(key: string): string | undefined {
    return this.keys.get(key);
  }

  get(runId: string): RunSummary | undefined {
    return this.rows.get(runId)?.s;
  }

  /** `creating` is not needed: an id not seen before is a new run, listed from now on whichever put brings it. */
  put(summary: RunSummary, _creating?: boolean): void {
    const before = this.rows.get(summary.id);
    const next = toRow(summary);
    if (before) {
      const was = { ...before };
      Object.assign(before, next);
      this.counted(was, before);
    } else {
      this.rows.set(summary.id, next);
      this.counted(undefined, next);
      // Nearly always the newest id (appended); a run another node created a moment earlier goes in its place, so the
      // order stays sorted for the binary searches of listing.
      const last = this.order[this.order.length - 1];
      if (last === undefined || last.s.id < summary.id) this.order.push(next);
      else {
        const at = lowerBound(this.order, summary.id);
        if (this.order[at]?.s.id !== summary.id) this.order.splice(at, 0, next);
        else {
          // A deleted run's place, not compacted yet, is taken again.
          this.order[at] = next;
          this.removed--;
        }
      }
    }
    if (summary.idempotencyKey !== undefined) this.keys.set(summary.idempotencyKey, summary.id);
  }

  /** Keeps the counters (open runs, runs per status, misfits) as a run goes from `was` to `now` (undefined: none). */
  private counted(was: Row | undefined, now: Row | undefined): void {
    const open = (r: Row | undefined) => (r !== undefined && !isFinalRunStatus(r.s.status) ? 1 : 0);
    this.open += open(now) - open(was);
    if (was) this.countStatus(was.s.status, -1);
    if (now) this.countStatus(now.s.status, 1);
    // A commit never changes a run's id or createdAt: only a new run or a deleted one changes who is a misfit.
    if (this.misfits && !was && now && !idTellsCreatedAt(now.s.id, createdOf(now))) this.misfits.add(now.s.id);
    if (this.misfits && was && !now) this.misfits.delete(was.s.id);
  }

  private anyMisfit(): boolean {
    if (!this.misfits) {
      this.misfits = new Set();
      for (const r of this.order) if (!r.gone && !idTellsCreatedAt(r.s.id, createdOf(r))) this.misfits.add(r.s.id);
    }
    return this.misfits.size > 0;
  }

  private countStatus(status: string, by: number): void {
    const n = (this.byStatus.get(status) ?? 0) + by;
    if (n > 0) this.byStatus.set(status, n);
    else this.byStatus.delete(status);
  }

  /**
   * A page in `q.sort` (default: newest first), filtered; `total` counts every run the filters match. `cursor`: the
   * previous page's nextCursor (the last id with the default sort). ListCursorError for one that does not fit the sort.
   */
  list(q: ListQuery): RunPage {
    const sort = q.sort ?? DEFAULT_RUN_LIST_SORT;
    const limit = Math.max(1, Math.min(500, q.limit ?? 50));
    let after: Position | undefined;
    if (q.cursor) {
      const p = positionOf(sort, q.cursor);
      if (typeof p === 'string') throw new ListCursorError(p);
      after = p;
    }
    const { field, dir } = parseSort(sort);
    // createdAt order is id order (an id encodes its creation ms and breaks ties): walked, never selected.
    return field === 'createdAt' ? this.walkIds(q, limit, dir, after?.id) : this.select(q, limit, field, dir, after);
  }

  /** Runs matching every filter but the created range when `exact` (the id window applies it then). */
  private matcher(q: ListQuery, exact: boolean): ((r: Row) => boolean) | undefined {
    const name = q.name ? q.name.toLowerCase() : undefined;
    const status = q.status;
    const from = exact ? undefined : q.createdAfter;
    const to = exact ? undefined : q.createdBefore;
    const derived = q.derived ? DERIVED_PREDICATES[q.derived] : undefined;
    const now = q.now ?? Date.now();
    if (!name && !status && !derived && from === undefined && to === undefined) return undefined;
    return (r) =>
      (status === undefined || r.s.status === status) &&
      (derived === undefined || derived(r.s, now)) &&
      (name === undefined || r.name.includes(name)) &&
      (from === undefined || createdOf(r) >= from) &&
      (to === undefined || createdOf(r) < to);
  }

  /**
   * The slice of `order` the created range covers, found by binary search when every id tells its run's createdAt
   * (`exact`); otherwise all of them, the range then checked run by run.
   */
  private window(q: ListQuery): { lo: number; hi: number; exact: boolean } {
    const n = this.order.length;
    if ((q.createdAfter === undefined && q.createdBefore === undefined) || this.anyMisfit()) return { lo: 0, hi: n, exact: false };
    const at = (ms: number) => (ms <= 0 ? 0 : ms >= ID_TIME_MAX ? n : lowerBound(this.order, idFloor(Math.ceil(ms))));
    const lo = q.createdAfter === undefined ? 0 : at(q.createdAfter);
    const hi = q.createdBefore === undefined ? n : at(q.createdBefore);
    return { lo, hi: Math.max(lo, hi), exact: true };
  }

  /** How many runs match when a counter says so without looking at them; undefined when they must be counted. */
  private countedTotal(q: ListQuery, win: { lo: number; hi: number; exact: boolean }): number | undefined {
    const ranged = q.createdAfter !== undefined || q.createdBefore !== undefined;
    if (q.name || q.derived) return undefined;
    if (!ranged) return q.status ? (this.byStatus.get(q.status) ?? 0) : this.rows.size;
    // Every row in the window is a listed run unless one was deleted since the last compaction.
    if (win.exact && !q.status && this.removed === 0) return win.hi - win.lo;
    return undefined;
  }

  /** createdAt order, either direction: a walk of the sorted ids from the cursor, stopping once the page is full. */
  private walkIds(q: ListQuery, limit: number, dir: Direction, afterId: string | undefined): RunPage {
    const win = this.window(q);
    const matches = this.matcher(q, win.exact);
    const known = this.countedTotal(q, win);
    // The first index after the cursor, in walking order.
    let start: number;
    if (dir < 0) start = afterId === undefined ? win.hi - 1 : Math.min(win.hi, lowerBound(this.order, afterId)) - 1;
    else start = afterId === undefined ? win.lo : Math.max(win.lo, lowerBound(this.order, afterId + '\0'));
    const out: Row[] = [];
    let total = 0;
    let more = false;
    // Without a counter, the walk covers the whole window (counting) and keeps the page on the way: one pass.
    const first = known === undefined ? (dir < 0 ? win.hi - 1 : win.lo) : start;
    for (let i = first; dir < 0 ? i >= win.lo : i < win.hi; i += dir) {
      const r = this.order[i]!;
      if (r.gone || (matches && !matches(r))) continue;
      total++;
      if (dir < 0 ? i > start : i < start) continue;
      if (out.length < limit) out.push(r);
      else {
        more = true;
        if (known !== undefined) break;
      }
    }
    const sort: RunListSort = dir < 0 ? '-createdAt' : 'createdAt';
    const last = out[out.length - 1];
    return {
      runs: out.map((r) => r.s),
      nextCursor: more && last ? (sort === DEFAULT_RUN_LIST_SORT ? last.s.id : encodeCursor(sort, last)) : null,
      total: known ?? total,
    };
  }

  /** Any other order: one pass over the matching runs, keeping the first `limit + 1` after the cursor. */
  private select(q: ListQuery, limit: number, field: Field, dir: Direction, after: Position | undefined): RunPage {
    const win = this.window(q);
    const matches = this.matcher(q, win.exact);
    const cmp = (a: Row, b: Row) => order(keyOf(a, field), a.s.id, keyOf(b, field), b.s.id, dir);
    const best = new FirstRows(limit + 1, cmp);
    let total = 0;
    const consider = (r: Row) => {
      if (matches && !matches(r)) return;
      total++;
      if (!after || order(keyOf(r, field), r.s.id, after.key, after.id, dir) > 0) best.offer(r);
    };
    // Walked in the order's direction: keys that grow with creation (updatedAt, mostly) then arrive nearly in order,
    // and once the heap is full most runs lose to its top in one comparison instead of displacing it.
    if (dir < 0) {
      for (let i = win.hi - 1; i >= win.lo; i--) {
        const r = this.order[i]!;
        if (!r.gone) consider(r);
      }
    } else {
      for (let i = win.lo; i < win.hi; i++) {
        const r = this.order[i]!;
        if (!r.gone) consider(r);
      }
    }
    const rows = best.sorted();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const sort = (dir < 0 ? `-${field}` : field) as RunListSort;
    return { runs: page.map((r) => r.s), nextCursor: rows.length > limit && last ? encodeCursor(sort, last) : null, total };
  }

  all(): RunSummary[] {
    const out: RunSummary[] = [];
    for (let i = this.order.length - 1; i >= 0; i--) {
      const r = this.order[i]!;
      if (!r.gone) out.push(r.s);
    }
    return out;
  }
}
