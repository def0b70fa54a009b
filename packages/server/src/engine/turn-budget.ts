/**
 * Keeps each turn of the event loop short under load. Under 100 concurrent callbacks, Node reads every ready socket in
 * one poll phase and our handlers' promise chains run to completion in that same turn: a hundred transitions, document
 * parses and serialisations back to back blocked the loop for 60–160 ms (B7 in docs/benchmarks.md), and timers, the
 * WebSocket stream and every other request waited behind them.
 *
 * Runs' steps take a token: one step's CPU part (load the document, decide, build and hand the commit to the journal)
 * at a time, and once a turn has spent `budgetMs` on steps, the next ones wait for a later turn (FIFO), letting I/O,
 * timers and replies in between. The token is released as soon as the step hands its commit to the store, so commits
 * still group: throughput is unchanged, only the order of work within a burst is.
 */
export type Release = () => void;

export class TurnBudget {
  private held = false;
  private sliceOpen = false;
  private sliceStart = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    private readonly budgetMs = 4,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Resolves with the token's release once this step may run: at once if the turn has budget left and nobody waits. */
  acquire(): Promise<Release> {
    if (!this.held && this.queue.length === 0 && this.hasBudget()) {
      this.held = true;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve) => {
      this.queue.push(() => resolve(this.releaser()));
      this.next();
    });
  }

  /** Steps waiting for a turn. */
  get waiting(): number {
    return this.queue.length;
  }

  private hasBudget(): boolean {
    const t = this.now();
    if (!this.sliceOpen) {
      this.sliceOpen = true;
      this.sliceStart = t;
      // The next turn starts a new slice and hands the token on, whoever last held it.
      setImmediate(() => {
        this.sliceOpen = false;
        this.next();
      });
      return true;
    }
    return t - this.sliceStart < this.budgetMs;
  }

  private releaser(): Release {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.held = false;
      this.next();
    };
  }

  private next(): void {
    if (this.held || this.queue.length === 0 || !this.hasBudget()) return;
    this.held = true;
    this.queue.shift()!();
  }
}
