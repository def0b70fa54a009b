/**
 * The run-file writer's thread (started by run-file-writer.ts through writer-thread.ts; protocol in
 * thread-protocol.ts): writes back a batch of run files, each atomically — temp file → fsync? → rename — so a reader
 * never sees half a document, and fsyncs each directory once per batch (fsync on).
 */
import fs from 'node:fs';
import path from 'node:path';
import { plainError, serveRequests, type PlainError, type RunFileReply, type RunFileWrite } from './thread-protocol.ts';

function writeText(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
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
  for (const f of files) {
    try {
      const fd = fs.openSync(f.tmp, 'w', 0o644);
      try {
        writeText(fd, f.text);
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
  let batchError: PlainError | null = null;
  try {
    for (const d of dirs) fsyncPath(d);
  } catch (e) {
    batchError = plainError(e);
  }
  return { errors, batchError };
}

serveRequests('run-file-thread', (m) => (m.type === 'files' ? writeFiles(m.files, m.fsync) : { errors: [], batchError: null }));
