/**
 * Writes run files for the store's background checkpoints, on a thread of its own so that a checkpoint of thousands
 * of files never delays a commit (commits go to the journal's thread). Each file is written atomically — temp file →
 * fsync? → rename — so a reader never sees half a document, and each directory is fsynced once per batch
 * (TETHER_FSYNC=1).
 *
 * Why a thread rather than the async fs API: that API costs four thread-pool round trips per file (open, write, close,
 * rename), and on the 2-vCPU benchmark machines each round trip cost the event loop more than the syscall itself.
 */
import { basename, dirname } from 'node:path';
import type { RecordSpan, RunFileReply } from './thread-protocol.ts';
import { WriterThread } from './writer-thread.ts';

let tmpCounter = 0;

export class RunFileWriter {
  // The thread's code: run-file-thread.ts.
  private readonly thread = new WriterThread('run-file-thread', 'run file writer');

  constructor(private readonly fsync: boolean) {}

  /**
   * Writes every file atomically with the bytes of its journal record; resolves with the names of the files that could
   * not be written (empty: all landed).
   */
  async writeAll(files: ReadonlyArray<{ file: string; from: RecordSpan }>): Promise<Array<{ file: string; message: string }>> {
    const batch = files.map(({ file, from }) => ({ file, from, tmp: `${dirname(file)}/.${basename(file)}.tmp-${process.pid}-c${++tmpCounter}` }));
    let r: RunFileReply;
    try {
      r = await this.thread.call({ type: 'files', fsync: this.fsync, files: batch });
    } catch (e) {
      return files.map(({ file }) => ({ file, message: (e as Error).message }));
    }
    return files.flatMap(({ file }, i) => {
      const e = r.batchError ?? (r.errors[i] === undefined ? { message: 'run file writer gave no answer' } : r.errors[i]);
      return e ? [{ file, message: e.message }] : [];
    });
  }

  close(): Promise<void> {
    return this.thread.stop({ type: 'noop' });
  }
}
