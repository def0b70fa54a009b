/**
 * The conformance harness (harness.ts) of the embedded default store: FileRunStore over LowdbRunStore in a temp
 * directory per test. Background write-backs are off in this process — a write-back deletes journal segments, which
 * the cost probe counts — and on in the crash child (file-store-child.ts), so a SIGKILL can land in one.
 */
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunStore } from '../../src/store/contract.ts';
import { FileRunStore } from '../../src/store/file-run-store.ts';
import { LowdbRunStore } from '../../src/store/lowdb-store.ts';
import { journalDir, listSegments, segmentFile } from '../../src/store/journal-files.ts';
import type { RunFiles } from '../../src/store/types.ts';
import { crashCopy } from '../helpers/durable.ts';
import { tempDir } from '../helpers/engine.ts';
import { withFileSizeLimit } from '../helpers/file-size-limit.ts';
import type { StoreStorage } from './harness.ts';

const here = dirname(fileURLToPath(import.meta.url));
const serverDir = resolve(here, '../..');
export const FILE_STORE_CHILD = join(here, 'file-store-child.ts');

const sizeOf = (file: string) =>
  stat(file).then(
    (s) => s.size,
    (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? 0 : Promise.reject(e)),
  );

export interface FileStoreOptions {
  /** The store over the file layer (default FileRunStore): for checking the suite against a variant. */
  makeStore?: (files: RunFiles) => RunStore;
  /** The crash child's script (default file-store-child.ts). */
  child?: string;
}

/** Fresh storage for one test: an empty temp directory. */
export async function fileStoreStorage(opts: FileStoreOptions = {}): Promise<StoreStorage> {
  const makeStore = opts.makeStore ?? ((files: RunFiles) => new FileRunStore(files));
  const dirs = [await tempDir('tether-conformance-')];
  /** The directory opened from now on: a crash moves to a copy of it. */
  let dir = dirs[0]!.dir;
  const openIn = async () => {
    const store = makeStore(new LowdbRunStore({ dir, writeBackIntervalMs: 0 }));
    return { store, opened: await store.open() };
  };
  return {
    get location() {
      return dir;
    },
    open: openIn,
    async reopenAfterCrash(abandoned) {
      // What a SIGKILL now would leave (nothing is in flight): the directory as it is, without the shutdown's work.
      const copy = await crashCopy(dir);
      dirs.push(copy);
      dir = copy.dir;
      await abandoned.close().catch(() => {}); // in the old directory: nothing of it reaches the copy
      return openIn();
    },
    async bytesWritten() {
      let total = await sizeOf(join(dir, 'index.jsonl'));
      const names = await readdir(journalDir(dir)).catch(() => [] as string[]);
      for (const n of names) if (n.endsWith('.jsonl')) total += await sizeOf(join(journalDir(dir), n));
      return total;
    },
    faults: {
      // A real EFBIG part-way through the next journal append: RLIMIT_FSIZE on this process (vitest's forked worker)
      // 64 bytes past the current segment's end (a record is kilobytes). Only that segment can reach it: the index
      // is appended only after the journal write succeeded, and no write-back runs here.
      async whileWritesFail(_store, act) {
        const seq = (await listSegments(dir)).at(-1);
        if (seq === undefined) throw new Error(`${dir}: no journal segment open`);
        return withFileSizeLimit((await sizeOf(segmentFile(dir, seq))) + 64, act);
      },
    },
    crashChild: {
      spawn: ({ first, count }) =>
        spawn(process.execPath, ['--import', 'tsx', opts.child ?? FILE_STORE_CHILD, dir, String(first), String(count)], {
          cwd: serverDir,
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { ...process.env, NODE_OPTIONS: '' },
        }),
    },
    async cleanup() {
      for (const d of dirs) await d.cleanup();
    },
  };
}
