/**
 * The committed documents of the runs used most recently, bounded by count (least recently used goes first).
 * A waiting run's document is ~4 KiB of heap as objects; 100k of them would be 400 MiB. Most runs wait quietly
 * for minutes or hours, so they are read back from disk when an event arrives instead.
 */
import type { RunDoc } from '../store/types.ts';

export class DocCache {
  private readonly map = new Map<string, RunDoc>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  /** Returns the document and marks it most recently used. */
  get(runId: string): RunDoc | undefined {
    const doc = this.map.get(runId);
    if (doc !== undefined) {
      this.map.delete(runId);
      this.map.set(runId, doc);
    }
    return doc;
  }

  /** Returns the document without touching the order. */
  peek(runId: string): RunDoc | undefined {
    return this.map.get(runId);
  }

  delete(runId: string): void {
    this.map.delete(runId);
  }

  set(runId: string, doc: RunDoc): void {
    if (this.capacity <= 0) return;
    this.map.delete(runId);
    this.map.set(runId, doc);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }
}
