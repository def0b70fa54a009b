/**
 * One timer service for every run: a binary min-heap keyed by absolute `dueAt`, driven by a single `setTimeout`
 * for the earliest entry. Arming replaces a run's timer of the same key; disarming is lazy (a generation check),
 * so both are O(log n) and nothing scans the heap.
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

interface HeapItem extends TimerEntry {
  gen: number;
}

/** setTimeout cannot wait longer than 2^31-1 ms; longer timers wake up and re-check. */
const MAX_WAIT_MS = 2 ** 31 - 1;

export class TimerService {
  private heap: HeapItem[] = [];
  private live = new Map<string, number>();
  private gen = 0;
  private handle: unknown = null;
  private armedFor = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly onFire: (entry: TimerEntry, firedAt: number) => void,
  ) {}

  get size(): number {
    return this.live.size;
  }

  private static id(runId: string, key: string): string {
    return `${runId}\u0000${key}`;
  }

  arm(entry: TimerEntry): void {
    const gen = ++this.gen;
    this.live.set(TimerService.id(entry.runId, entry.key), gen);
    this.push({ ...entry, gen });
    if (entry.dueAt < this.armedFor) this.schedule();
  }

  disarm(runId: string, key: string): void {
    this.live.delete(TimerService.id(runId, key));
  }

  /** Make a run's armed timers exactly `entries` (after a commit). */
  sync(runId: string, previous: readonly TimerEntry[], entries: readonly TimerEntry[]): void {
    for (const p of previous) if (!entries.some((e) => e.key === p.key && e.dueAt === p.dueAt)) this.disarm(runId, p.key);
    for (const e of entries) if (!previous.some((p) => p.key === e.key && p.dueAt === e.dueAt)) this.arm(e);
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

  private isLive(item: HeapItem): boolean {
    return this.live.get(TimerService.id(item.runId, item.key)) === item.gen;
  }

  private dropDead(): void {
    while (this.heap.length && !this.isLive(this.heap[0]!)) this.pop();
  }

  private schedule(): void {
    if (this.stopped) return;
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
      this.live.delete(TimerService.id(top.runId, top.key));
      const { gen: _gen, ...entry } = top;
      // Stamp no earlier than the due time: a timer never fires "early" in the machine's eyes.
      this.onFire(entry, Math.max(now, top.dueAt));
    }
    this.schedule();
  }

  private push(item: HeapItem): void {
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

  private pop(): HeapItem | undefined {
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
