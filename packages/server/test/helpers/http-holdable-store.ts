/**
 * The real lowdb store with a gate in front of commits: a test holds the gate, sees a commit arrive, checks that nobody
 * has been answered yet, then releases it. Proves "answered only after the commit is durable" without timing guesses.
 */
import type { RunSummary } from '@tether/machine';
import { LowdbRunStore } from '../../src/store/lowdb-store.ts';
import type { CommitOptions, LoadedStore, RunDoc, RunFiles } from '../../src/store/types.ts';

export class HoldableStore implements RunFiles {
  /** Order of completed commits and whatever the test appends (e.g. 'response'). */
  readonly log: string[] = [];
  private gate: Promise<void> | null = null;
  private open: (() => void) | null = null;
  private arrived: (() => void) | null = null;
  private readonly inner: LowdbRunStore;

  constructor(dir: string) {
    this.inner = new LowdbRunStore({ dir });
  }

  get dir(): string {
    return this.inner.dir;
  }

  /** Holds every commit from now on; resolves when the first one reaches the gate. */
  hold(): Promise<void> {
    this.gate = new Promise((r) => (this.open = r));
    return new Promise((r) => (this.arrived = r));
  }

  release(): void {
    const open = this.open;
    this.gate = null;
    this.open = null;
    open?.();
  }

  load(): Promise<LoadedStore> {
    return this.inner.load();
  }

  async commit(doc: RunDoc, summary: RunSummary, opts?: CommitOptions): Promise<void> {
    if (this.gate) {
      const gate = this.gate;
      this.arrived?.();
      this.arrived = null;
      await gate;
    }
    await this.inner.commit(doc, summary, opts);
    const last = doc.events[doc.events.length - 1];
    this.log.push(`committed ${last?.type}:${last?.verdict}`);
  }

  remove(runId: string): Promise<void> {
    return this.inner.remove(runId);
  }

  read(runId: string): Promise<RunDoc | null> {
    return this.inner.read(runId);
  }

  close(): Promise<void> {
    this.release();
    return this.inner.close();
  }
}
