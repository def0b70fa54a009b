import { ManualClock } from './manual-clock.ts';

/**
 * A ManualClock that also counts its timers, so a test can assert that the timer service keeps exactly one
 * `setTimeout` armed at a time (one timer for all runs, never one per run), and can fire it early on purpose.
 */
export class CountingClock extends ManualClock {
  /** Handles armed and neither fired nor cleared. */
  private readonly armed = new Map<unknown, () => void>();
  setTimerCalls = 0;
  clearTimerCalls = 0;
  maxArmed = 0;

  override setTimer(fn: () => void, ms: number): unknown {
    this.setTimerCalls++;
    let handle: unknown = null;
    const wrapped = () => {
      this.armed.delete(handle);
      fn();
    };
    handle = super.setTimer(wrapped, ms);
    this.armed.set(handle, wrapped);
    this.maxArmed = Math.max(this.maxArmed, this.armed.size);
    return handle;
  }

  override clearTimer(handle: unknown): void {
    this.clearTimerCalls++;
    this.armed.delete(handle);
    super.clearTimer(handle);
  }

  get armedCount(): number {
    return this.armed.size;
  }

  /** Runs the armed callback now, without moving time: what a host timer that fires a little early does. */
  fireEarly(): void {
    const [handle, fn] = [...this.armed.entries()][0] ?? [];
    if (!fn) throw new Error('no timer armed');
    super.clearTimer(handle);
    fn();
  }
}
