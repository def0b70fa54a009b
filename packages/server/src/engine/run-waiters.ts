/**
 * Long-poll waiters (`?wait=`): callers waiting for runs to become final. One engine subscription feeds them all, so
 * many waiters cost no polling; each waiter is woken by its run's final commit (on this node, or another node's as the
 * cluster fan-out publishes it), its time running out, or its client going away.
 */
import { isFinalRunStatus } from '@tether/machine';
import type { Clock } from './clock.ts';
import type { Engine } from './engine.ts';

export class RunWaiters {
  private readonly byRun = new Map<string, Set<() => void>>();
  private readonly unsubscribe: () => void;

  constructor(
    engine: Engine,
    private readonly clock: Clock,
  ) {
    this.unsubscribe = engine.subscribe((u) => {
      if (isFinalRunStatus(u.summary.status)) this.wake(u.summary.id);
    });
  }

  /** Waiters now (tests: a client that went away must free its waiter). */
  get size(): number {
    let n = 0;
    for (const s of this.byRun.values()) n += s.size;
    return n;
  }

  /**
   * Resolves when `runId` commits a final status, after `ms`, or when `signal` aborts — whichever is first. Register
   * before reading the run, so a final commit between the read and the wait is not missed.
   */
  wait(runId: string, ms: number, signal: AbortSignal): { done: Promise<void>; cancel: () => void } {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    let set = this.byRun.get(runId);
    if (!set) this.byRun.set(runId, (set = new Set()));
    const timer = this.clock.setTimer(() => cancel(), ms);
    const cancel = () => {
      this.clock.clearTimer(timer);
      signal.removeEventListener('abort', cancel);
      const s = this.byRun.get(runId);
      s?.delete(cancel);
      if (s && !s.size) this.byRun.delete(runId);
      finish();
    };
    set.add(cancel);
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
    return { done, cancel };
  }

  private wake(runId: string): void {
    const set = this.byRun.get(runId);
    if (set) for (const w of [...set]) w();
  }

  close(): void {
    this.unsubscribe();
    for (const set of [...this.byRun.values()]) for (const w of [...set]) w();
  }
}
