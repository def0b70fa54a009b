/**
 * Per-run mailboxes: tasks for one run run one at a time in arrival order; different runs run in parallel.
 * A failing task rejects its own caller only; the queue goes on.
 */
export class Mailboxes {
  private tails = new Map<string, Promise<unknown>>();

  get pending(): number {
    return this.tails.size;
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves once every queued task has settled. */
  async drain(): Promise<void> {
    while (this.tails.size) await Promise.all([...this.tails.values()]);
  }
}
