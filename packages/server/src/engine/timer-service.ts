/**
 * One timer service for every run: a binary min-heap keyed by absolute `dueAt`, driven by a single `setTimeout`
 * for the earliest entry. Arming replaces a run's timer of the same key; disarming is lazy (the heap item is only
 * dropped from the run's live slot, by identity), so both are O(log n) and nothing scans the heap. Dead items are
 * swept when they reach the top, and the heap is rebuilt when they outnumber the live ones (a heartbeat moves its
 * attempt's timer on every beat: without the sweep, a busy heartbeat stream would grow the heap without bound).
 */
import type { Clock } from './clock.ts';

export interface TimerEntry {
  runId: string;
  /** The machine's raise id, e.g. `xstate.after.attemptTimeout.run.attempt.awaitingCallback`. */
  key: string;
  /** Absolute due time, epoch ms. */
  dueAt: number;
  /** The event type to dispatch when it fires. */
  eventType: string;
}

export interface TimerLogger {
  error(obj: object, msg?: string): void;
}

/** setTimeout cannot wait longer than 2^31-1 ms; longer timers wake up and re-check. */
const MAX_WAIT_MS = 2 ** 31 - 1;
/** Rebuild the heap once it holds this many more items than there are live timers. */
const SWEEP_SLACK = 1024;

/**
 * Keys and event types are a handful of machine raise ids, but every run document parsed from disk carries its own
 * copy of each (~60 bytes apiece): one shared copy per distinct text keeps 100k waiting runs from holding 100k copies.
 */
const interned = new Map<string, string>();
function intern(s: string): string {
  const hit = interned.get(s);
  if (hit !== undefined) return hit;
  if (interned.size < 1000) interned.set(s, s);
  return s;
}

/** A run's live timers: one item (the common case), or several. */
type Slot = TimerEntry | TimerEntry[];

export class TimerService {
  private heap: TimerEntry[] = [];
  private live = new Map<string, Slot>();
  private liveCount = 0;
  private handle: unknown = null;
  private armedFor = Number.POSITIVE_INFINITY;
  private stopped = false;
  private paused: boolean;
  private readonly logger: TimerLogger | null;

  constructor(
    private readonly clock: Clock,
    private readonly onFire: (entry: TimerEntry, firedAt: number) => void,
    opts: { paused?: boolean; logger?: TimerLogger } = {},
  ) {
    this.paused = opts.paused ?? false;
    this.logger = opts.logger ?? null;
  }

  /** Live timers (armed, or held while paused). */
  get size(): number {
    return this.liveCount;
  }

  /** Items in the heap, dead ones included (for tests of the sweep). */
  get heapSize(): number {
    return this.heap.length;
  }

  /** Starts firing timers held since construction with `paused: true`. */
  start(): void {
    if (!this.paused) return;
    this.paused = false;
    this.schedule();
  }

  arm(entry: TimerEntry): void {
    const item: TimerEntry = { runId: entry.runId, key: intern(entry.key), dueAt: entry.dueAt, eventType: intern(entry.eventType) };
    this.remove(item.runId, item.key);
    const slot = this.live.get(item.runId);
    this.live.set(item.runId, slot === undefined ? item : Array.isArray(slot) ? [...slot, item] : [slot, item]);
    this.liveCount++;
    this.push(item);
    this.maybeSweep();
    if (item.dueAt < this.armedFor) this.schedule();
  }

  disarm(runId: string, key: string): void {
    this.remove(runId, key);
  }

  /** Make a run's armed timers exactly `entries` (after a commit). */
  sync(runId: string, previous: readonly TimerEntry[], entries: readonly TimerEntry[]): void {
    for (const p of previous) if (!entries.some((e) => e.key === p.key && e.dueAt === p.dueAt)) this.disarm(runId, p.key);
    for (const e of entries) if (!previous.some((p) => p.key === e.key && p.dueAt === e.dueAt)) this.arm(e);
  }

  /** A run's live timers. */
  timersOf(runId: string): TimerEntry[] {
    const slot = this.live.get(runId);
    return slot === undefined ? [] : Array.isArray(slot) ? slot : [slot];
  }

  /** Earliest live due time, for tests and metrics. */
  peek(): TimerEntry | undefined {
    this.dropDead();
    return this.heap[0];
  }

  stop(): void {
    this.stopped = true;
    if (this.handle !== null) this.clock.clearTimer(this.handle);
    this.handle = null;
  }

  private remove(runId: string, key: string): void {
    const slot = this.live.get(runId);
    if (slot === undefined) return;
    if (!Array.isArray(slot)) {
      if (slot.key !== key) return;
      this.live.delete(runId);
      this.liveCount--;
      return;
    }
    const rest = slot.filter((t) => t.key !== key);
    if (rest.length === slot.length) return;
    this.liveCount--;
    if (rest.length === 0) this.live.delete(runId);
    else this.live.set(runId, rest.length === 1 ? rest[0]! : rest);
  }

  private isLive(item: TimerEntry): boolean {
    const slot = this.live.get(item.runId);
    return slot === item || (Array.isArray(slot) && slot.includes(item));
  }

  private dropDead(): void {
    while (this.heap.length && !this.isLive(this.heap[0]!)) this.pop();
  }

  /** Rebuilds the heap from the live items when dead ones (moved or cancelled timers) dominate it. O(n), amortised. */
  private maybeSweep(): void {
    if (this.heap.length <= 2 * this.liveCount + SWEEP_SLACK) return;
    const items: TimerEntry[] = [];
    for (const slot of this.live.values()) {
      if (Array.isArray(slot)) items.push(...slot);
      else items.push(slot);
    }
    this.heap = [];
    for (const item of items) this.push(item);
  }

  private schedule(): void {
    if (this.stopped || this.paused) return;
    this.dropDead();
    const top = this.heap[0];
    if (this.handle !== null) this.clock.clearTimer(this.handle);
    this.handle = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    if (!top) return;
    const wait = Math.min(MAX_WAIT_MS, Math.max(0, top.dueAt - this.clock.now()));
    this.armedFor = top.dueAt;
    this.handle = this.clock.setTimer(() => this.fire(), wait);
  }

  private fire(): void {
    this.handle = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    // Fire everything due, in due order.
    for (;;) {
      this.dropDead();
      const top = this.heap[0];
      if (!top || top.dueAt > now) break;
      this.pop();
      this.remove(top.runId, top.key);
      // Stamp no earlier than the due time: a timer never fires "early" in the machine's eyes.
      try {
        this.onFire(top, Math.max(now, top.dueAt));
      } catch (e) {
        // One broken dispatch must not take the other due timers (and every later one) down with it.
        this.logger?.error({ runId: top.runId, key: top.key, err: (e as Error)?.message ?? String(e) }, 'timer dispatch threw');
      }
    }
    this.schedule();
  }

  private push(item: TimerEntry): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.dueAt <= item.dueAt) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = item;
  }

  private pop(): TimerEntry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (!last || h.length === 0) return top;
    const n = h.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = -1;
      let best = last.dueAt;
      if (l < n && h[l]!.dueAt < best) {
        m = l;
        best = h[l]!.dueAt;
      }
      if (r < n && h[r]!.dueAt < best) m = r;
      if (m < 0) break;
      h[i] = h[m]!;
      i = m;
    }
    h[i] = last;
    return top;
  }
}
