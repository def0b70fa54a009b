/**
 * A real-time clock that can jump forward: `now()` is wall time plus an offset, timers are real `setTimeout`s on
 * virtual due times. `jump(ms)` moves the offset and re-arms every pending timer for its remaining virtual time,
 * so an hour-long callback timeout armed the normal way (createRun → trigger → timer) can be brought due in a
 * second without faking anything the engine does after that: lateness is still real wall-clock lateness.
 */
import type { Clock } from '../../src/engine/clock.ts';

interface Pending {
  fn: () => void;
  dueAt: number;
  handle: ReturnType<typeof setTimeout>;
}

export class JumpClock implements Clock {
  private offset = 0;
  private readonly pending = new Set<Pending>();

  now = (): number => Date.now() + this.offset;

  setTimer = (fn: () => void, ms: number): unknown => {
    const p: Pending = { fn, dueAt: this.now() + ms, handle: undefined as unknown as ReturnType<typeof setTimeout> };
    p.handle = this.arm(p, ms);
    this.pending.add(p);
    return p;
  };

  clearTimer = (h: unknown): void => {
    const p = h as Pending;
    clearTimeout(p.handle);
    this.pending.delete(p);
  };

  jump(ms: number): void {
    this.offset += ms;
    for (const p of this.pending) {
      clearTimeout(p.handle);
      p.handle = this.arm(p, Math.max(0, p.dueAt - this.now()));
    }
  }

  private arm(p: Pending, ms: number): ReturnType<typeof setTimeout> {
    const t = setTimeout(
      () => {
        this.pending.delete(p);
        p.fn();
      },
      Math.min(ms, 2 ** 31 - 1),
    );
    t.unref();
    return t;
  }
}
