/**
 * The journal's writer thread (started by journal.ts through writer-thread.ts; protocol in thread-protocol.ts). It owns
 * the open segment and the index file; every call here is a synchronous system call, which is the point of the thread:
 * one `write` (and one `fdatasync` with fsync on) per group of commits, off the event loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import { plainError, serveRequests, type JournalReply, type JournalRequest, type PlainError } from './thread-protocol.ts';

/** The segment appends go to (null: none open, or its tail is unknown after a failed cut-back), and its size. */
let journalFd: number | null = null;
let journalSize = 0;
/** The open segment's sequence number: replies name it, so the main thread knows where each record landed. */
let journalSeq = 0;
let indexFd: number | null = null;
let fsync = false;

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The new segment is opened before the old one is let go: a rotation that fails leaves appends going where they went. */
function openSegment(file: string, seq: number): void {
  const fd = fs.openSync(file, 'a', 0o644);
  let size: number;
  try {
    size = fs.fstatSync(fd).size;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  if (journalFd !== null) fs.closeSync(journalFd);
  journalFd = fd;
  journalSize = size;
  journalSeq = seq;
  // The new segment's name must survive a power loss before anything acknowledged is in it.
  if (fsync) syncDir(path.dirname(file));
}

function append(journal: string, index: string): JournalReply {
  if (journalFd === null) return { error: { message: 'the journal is not open' }, size: journalSize };
  const buf = Buffer.from(journal, 'utf8');
  try {
    writeAll(journalFd, buf);
    if (fsync) fs.fdatasyncSync(journalFd);
  } catch (e) {
    // Cut the partial group off: nothing unacknowledged may stay in the journal. If even that fails, stop taking
    // appends: the segment's tail is unknown.
    try {
      fs.ftruncateSync(journalFd, journalSize);
    } catch {
      try {
        fs.closeSync(journalFd);
      } catch {
        // Already unusable; appends stop either way.
      }
      journalFd = null;
    }
    return { error: plainError(e), size: journalSize };
  }
  // Where each record begins: a JSON text holds no raw newline (JSON.stringify escapes it), so every newline byte
  // ends a record. The main thread reads a record back (and the write-back copies it) by these offsets.
  const bounds = [journalSize];
  for (let at = buf.indexOf(10); at !== -1; at = buf.indexOf(10, at + 1)) bounds.push(journalSize + at + 1);
  journalSize += buf.length;
  let indexFailed = false;
  if (indexFd !== null && index) {
    try {
      writeAll(indexFd, Buffer.from(index, 'utf8'));
    } catch {
      // The index is derived (start-up corrects it): reported, but the group's commits stand.
      indexFailed = true;
    }
  }
  return { error: null, indexFailed, size: journalSize, landed: { seq: journalSeq, bounds } };
}

function handle(m: JournalRequest): JournalReply {
  if (m.type === 'append') return append(m.journal, m.index);
  let error: PlainError | null = null;
  try {
    switch (m.type) {
      case 'open':
        fsync = m.fsync;
        openSegment(m.journal, m.seq);
        if (indexFd !== null) fs.closeSync(indexFd);
        indexFd = m.index ? fs.openSync(m.index, 'a') : null;
        break;
      case 'rotate':
        openSegment(m.journal, m.seq);
        break;
      case 'noop':
        break;
      case 'close':
        if (journalFd !== null) fs.closeSync(journalFd);
        if (indexFd !== null) fs.closeSync(indexFd);
        journalFd = indexFd = null;
        break;
      default:
        m satisfies never;
    }
  } catch (e) {
    error = plainError(e);
  }
  return { error, size: journalSize };
}

serveRequests('journal-thread', handle);
