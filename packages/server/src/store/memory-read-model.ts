/** The in-process ReadModel (the file store's): every run's summary in memory, ids in creation order (ids sort by creation time). */
import { isFinalRunStatus, type RunSummary } from '@tether/machine';
import type { ListQuery, ReadModel, RunPage } from './contract.ts';

export class MemoryReadModel implements ReadModel {
  private readonly summaries = new Map<string, RunSummary>();
  private readonly keys = new Map<string, string>();
  private ids: string[] = [];
  private open = 0;
  /** Ids still in `ids` whose run was deleted. */
  private removed = 0;

  /** Loads what the store knew at start-up, in creation order or close to it. */
  constructor(initial: readonly RunSummary[] = []) {
    for (const s of initial) {
      this.summaries.set(s.id, s);
      if (s.idempotencyKey !== undefined) this.keys.set(s.idempotencyKey, s.id);
      if (!isFinalRunStatus(s.status)) this.open++;
    }
    this.ids = initial.map((s) => s.id);
    // The store usually returns them in order already (100k sorted in O(n), not O(n log n)).
    if (this.ids.some((id, i) => i > 0 && id < this.ids[i - 1]!)) this.ids.sort();
  }

  get count(): number {
    return this.summaries.size;
  }

  get openCount(): number {
    return this.open;
  }

  remove(runId: string): void {
    const s = this.summaries.get(runId);
    if (!s) return;
    this.summaries.delete(runId);
    if (!isFinalRunStatus(s.status)) this.open--;
    if (s.idempotencyKey !== undefined && this.keys.get(s.idempotencyKey) === runId) this.keys.delete(s.idempotencyKey);
    // The id list is compacted only once most of it is gone: a retention sweep deleting thousands stays O(n) in all.
    this.removed++;
    if (this.removed > 1000 && this.removed * 2 > this.ids.length) {
      this.ids = this.ids.filter((id) => this.summaries.has(id));
      this.removed = 0;
    }
  }

  byIdempotencyKey(key: string): string | undefined {
    return this.keys.get(key);
  }

  get(runId: string): RunSummary | undefined {
    return this.summaries.get(runId);
  }

  put(summary: RunSummary, creating: boolean): void {
    const before = this.summaries.get(summary.id);
    const wasOpen = before !== undefined && !isFinalRunStatus(before.status);
    this.open += (isFinalRunStatus(summary.status) ? 0 : 1) - (wasOpen ? 1 : 0);
    if (creating) this.ids.push(summary.id);
    this.summaries.set(summary.id, summary);
    if (summary.idempotencyKey !== undefined) this.keys.set(summary.idempotencyKey, summary.id);
  }

  /** Newest first. `cursor` is the last id of the previous page. */
  list(q: ListQuery): RunPage {
    const limit = Math.max(1, Math.min(500, q.limit ?? 50));
    const name = q.name?.toLowerCase();
    const out: RunSummary[] = [];
    let i = this.ids.length - 1;
    if (q.cursor) {
      const at = this.ids.lastIndexOf(q.cursor);
      i = at >= 0 ? at - 1 : -1;
    }
    for (; i >= 0; i--) {
      const s = this.summaries.get(this.ids[i]!);
      if (!s) continue;
      if (q.status && s.status !== q.status) continue;
      if (name && !s.name.toLowerCase().includes(name)) continue;
      if (out.length === limit) return { runs: out, nextCursor: out[out.length - 1]!.id };
      out.push(s);
    }
    return { runs: out, nextCursor: null };
  }

  all(): RunSummary[] {
    const out: RunSummary[] = [];
    for (let i = this.ids.length - 1; i >= 0; i--) {
      const s = this.summaries.get(this.ids[i]!);
      if (s) out.push(s);
    }
    return out;
  }
}
