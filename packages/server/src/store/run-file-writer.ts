/**
 * Writes run files for the store's background checkpoints, on a thread of its own so that a checkpoint of thousands
 * of files never delays a commit (commits go to the journal's thread). Each file is written atomically — temp file →
 * fsync? → rename — so a reader never sees half a document, and each directory is fsynced once per batch
 * (TETHER_FSYNC=1).
 *
 * Why a thread rather than the async fs API: that API costs four thread-pool round trips per file (open, write, close,
 * rename), and on the 2-vCPU benchmark machines each round trip cost the event loop more than the syscall itself.
 */
import { WriterThread } from './writer-thread.ts';
import { basename, dirname } from 'node:path';

interface Reply {
  id: number;
  /** Per file: null, or the error that write hit (that file is untouched). */
  errors: Array<{ message: string; code?: string } | null>;
  /** An error after the files (directory fsync): every file of the batch counts as failed. */
  batchError: { message: string; code?: string } | null;
}

// The thread's source (see writer-thread.ts).
const WORKER_SOURCE = `
import { parentPort } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';
const plain = (e) => ({ message: String((e && e.message) || e), code: e && e.code });
function writeAll(fd, text) {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}
function fsyncPath(p) {
  const fd = fs.openSync(p, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}
parentPort.on('message', (m) => {
  if (m.type === 'noop') return parentPort.postMessage({ id: m.id, errors: [], batchError: null });
  const errors = [];
  const dirs = new Set();
  for (const f of m.files) {
    try {
      const fd = fs.openSync(f.tmp, 'w', 0o644);
      try {
        writeAll(fd, f.text);
        if (m.fsync) fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(f.tmp, f.file);
      if (m.fsync) dirs.add(path.dirname(f.file));
      errors.push(null);
    } catch (e) {
      try { fs.unlinkSync(f.tmp); } catch {}
      errors.push(plain(e));
    }
  }
  let batchError = null;
  try {
    for (const d of dirs) fsyncPath(d);
  } catch (e) {
    batchError = plain(e);
  }
  parentPort.postMessage({ id: m.id, errors, batchError });
});
`;

let tmpCounter = 0;

export class RunFileWriter {
  private readonly thread = new WriterThread<Reply>(WORKER_SOURCE, 'run file writer');

  constructor(private readonly fsync: boolean) {}

  /** Writes every file atomically; resolves with the names of the files that could not be written (empty: all landed). */
  async writeAll(files: ReadonlyArray<{ file: string; text: string }>): Promise<Array<{ file: string; message: string }>> {
    const batch = files.map(({ file, text }) => ({ file, text, tmp: `${dirname(file)}/.${basename(file)}.tmp-${process.pid}-c${++tmpCounter}` }));
    let r: Reply;
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
