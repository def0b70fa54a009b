/**
 * The run-file writer's thread (started by run-file-writer.ts through writer-thread.ts; protocol in
 * thread-protocol.ts): writes back a batch of run files, each atomically — temp file → fsync? → rename — so a reader
 * never sees half a document, and fsyncs each directory once per batch (fsync on). A file's bytes are its run's newest
 * journal record, read here from the segment (the main thread only says where it is), so pending documents are
 * never held in the main thread's memory nor copied through a message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { plainError, serveRequests, type PlainError, type RecordSpan, type RunFileReply, type RunFileWrite } from './thread-protocol.ts';

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/** Segments opened during one batch (a batch's records are in a few segments at most). */
class SegmentReader {
  private readonly fds = new Map<string, number>();

  read(span: RecordSpan): Buffer {
    let fd = this.fds.get(span.segment);
    if (fd === undefined) this.fds.set(span.segment, (fd = fs.openSync(span.segment, 'r')));
    const buf = Buffer.allocUnsafe(span.length);
    let got = 0;
    while (got < span.length) {
      const n = fs.readSync(fd, buf, got, span.length - got, span.offset + got);
      if (n === 0) throw new Error(`${span.segment} ends before byte ${span.offset + span.length} (record at ${span.offset})`);
      got += n;
    }
    return buf;
  }

  close(): void {
    for (const fd of this.fds.values()) {
      try {
        fs.closeSync(fd);
      } catch {
        // Read-only: nothing of the batch depends on it.
      }
    }
    this.fds.clear();
  }
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function writeFiles(files: readonly RunFileWrite[], fsync: boolean): RunFileReply {
  const errors: Array<PlainError | null> = [];
  const dirs = new Set<string>();
  const segments = new SegmentReader();
  for (const f of files) {
    try {
      const bytes = segments.read(f.from);
      const fd = fs.openSync(f.tmp, 'w', 0o644);
      try {
        writeAll(fd, bytes);
        if (fsync) fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(f.tmp, f.file);
      if (fsync) dirs.add(path.dirname(f.file));
      errors.push(null);
    } catch (e) {
      // The rename is the commit point: a temp file left behind would only be swept at the next start.
      try {
        fs.unlinkSync(f.tmp);
      } catch {
        // Never created, or already renamed.
      }
      errors.push(plainError(e));
    }
  }
  segments.close();
  let batchError: PlainError | null = null;
  try {
    for (const d of dirs) fsyncPath(d);
  } catch (e) {
    batchError = plainError(e);
  }
  return { errors, batchError };
}

serveRequests('run-file-thread', (m) => (m.type === 'files' ? writeFiles(m.files, m.fsync) : { errors: [], batchError: null }));
