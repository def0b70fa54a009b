/** Today's Notifier: subscribers in this process, called in turn; one that throws does not stop the others. */
import type { Notifier, RunUpdate } from '../ports.ts';

export class LocalNotifier implements Notifier {
  private readonly listeners = new Set<(u: RunUpdate) => void>();

  constructor(private readonly onError: (e: unknown) => void) {}

  get listening(): boolean {
    return this.listeners.size > 0;
  }

  subscribe(fn: (u: RunUpdate) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  publish(u: RunUpdate): void {
    for (const l of this.listeners) {
      try {
        l(u);
      } catch (e) {
        this.onError(e);
      }
    }
  }
}
