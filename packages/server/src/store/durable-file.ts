/**
 * A lowdb adapter that writes one JSON document atomically: temp file, optional fsync, rename, optional directory
 * fsync. lowdb's own JSONFile does temp + rename but never fsyncs; TETHER_FSYNC=1 needs both syncs before a commit
 * is acknowledged.
 */
import { readFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Adapter } from 'lowdb';
import { CorruptRunFileError } from './types.ts';

let tmpCounter = 0;

export async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

export async function writeFileAtomic(file: string, text: string, fsync: boolean): Promise<void> {
  const tmp = `${dirname(file)}/.${basename(file)}.tmp-${process.pid}-${++tmpCounter}`;
  const fd = await open(tmp, 'w', 0o644);
  try {
    await fd.writeFile(text, 'utf8');
    if (fsync) await fd.sync();
  } catch (e) {
    await fd.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fd.close();
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  if (fsync) await fsyncDir(dirname(file));
}

export class DurableJSONFile<T> implements Adapter<T> {
  constructor(
    readonly file: string,
    private readonly fsync: boolean,
  ) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      // Synchronous on purpose: a run file is a few KiB, in the page cache right after its commit; one readFileSync is
      // four syscalls on this thread (~20-30 µs), where the async path is four thread-pool round trips, and each costs
      // the event loop more than the whole read (see docs/benchmarks.md, B1 profile).
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new CorruptRunFileError(this.file, `unreadable (${(e as Error).message})`);
    }
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new CorruptRunFileError(this.file, `invalid JSON (${(e as Error).message})`);
    }
  }

  write(data: T): Promise<void> {
    return writeFileAtomic(this.file, JSON.stringify(data), this.fsync);
  }
}
