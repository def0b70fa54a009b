/**
 * The commit journal: an append-only log of run documents, written by one writer thread in groups.
 *
 * Every commit queued during one turn of the event loop goes to the thread in one message and lands in one `write`
 * (plus one `fdatasync` with TETHER_FSYNC=1); each commit resolves once its group is on disk. A group that cannot be
 * written whole is cut back off the file (`ftruncate` to where it began), so the journal never holds a record that
 * was not acknowledged. The summary index lines of the same commits are appended after the group: the index is
 * derived, so a failure there is reported (`indexFailed`) but fails no commit.
 *
 * Why: a run file rewritten by temp file + rename costs ~200 µs per commit on ext4 (and the kernel's CPU with it);
 * appending the same bytes to one open file costs ~5 µs. Run files are brought up to date later, in the background
 * (see lowdb-store.ts), many commits at once.
 */
import type { JournalReply, JournalRequest, PlainError } from './thread-protocol.ts';
import { WriterThread } from './writer-thread.ts';

const toError = (e: PlainError): Error => Object.assign(new Error(e.message), e.code ? { code: e.code } : {});

interface Pending {
  runId: string;
  record: string;
  indexLine: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class JournalWriter {
  // The thread's code: journal-thread.ts.
  private readonly thread = new WriterThread('journal-thread', 'journal writer', (r) => {
    this.size = r.size;
  });
  private queue: Pending[] = [];
  private scheduled = false;
  /** Bytes in the current segment, as of the last answer. */
  size = 0;
  /**
   * Called once per group that lands, with its records in commit order, before any of their commits resolves: `seq`
   * is the segment they are in, record i's bytes are `bounds[i]` to `bounds[i + 1] - 1` (its newline excluded).
   */
  onLanded: (group: ReadonlyArray<{ runId: string; record: string }>, landed: { seq: number; bounds: number[] }, indexFailed: boolean) => void =
    () => {};

  /** Opens `journal` (segment number `seq`) for appends (created if missing) and `index` for summary lines. */
  async open(journal: string, seq: number, index: string | null, fsync: boolean): Promise<void> {
    await this.call({ type: 'open', journal, seq, index, fsync });
  }

  /**
   * Closes the current segment and appends to `journal` from here on. Ordered with appends: every group posted before
   * this call is in the old segment, every one after it in the new one.
   */
  async rotate(journal: string, seq: number): Promise<void> {
    if (this.scheduled) this.flush();
    await this.call({ type: 'rotate', journal, seq });
  }

  /** Appends one record (a line's text; the newline is added here) and its index line (newline included); resolves once the record is on disk. */
  append(runId: string, record: string, indexLine: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ runId, record, indexLine, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After this turn's I/O callbacks: every commit they queued joins the same group.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const group = this.queue;
    this.queue = [];
    if (!group.length) return;
    let journal = '';
    let index = '';
    for (const p of group) {
      journal += p.record;
      journal += '\n';
      index += p.indexLine;
    }
    this.call({ type: 'append', journal, index }).then(
      (r) => {
        if (!r.landed || r.landed.bounds.length !== group.length + 1) {
          // Cannot happen (the thread found as many newlines as it was sent records); if it did, acknowledging would
          // leave the store unable to find these records.
          const e = new Error(`journal writer: a group of ${group.length} records landed as ${r.landed ? r.landed.bounds.length - 1 : 'no'} records`);
          for (const p of group) p.reject(e);
          return;
        }
        this.onLanded(group, r.landed, r.indexFailed === true);
        for (const p of group) p.resolve();
      },
      (e: Error) => {
        for (const p of group) p.reject(e);
      },
    );
  }

  private async call(msg: JournalRequest): Promise<JournalReply> {
    const r = await this.thread.call(msg);
    if (r.error) throw toError(r.error);
    return r;
  }

  /** Resolves once every append queued so far has been answered. */
  async drain(): Promise<void> {
    if (this.scheduled) this.flush();
    await this.call({ type: 'noop' }).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.scheduled) this.flush();
    // The thread answers in order: once `close` is answered, every group posted before it has been.
    await this.thread.stop({ type: 'close' });
  }
}
