/**
 * One server per data directory. Two servers on one directory would interleave appends to one journal and each
 * write back run files from its own memory: a run could lose acknowledged events. `<dataDir>/tether.lock` holds the
 * pid of the server using the directory; a second server refuses to start while that process is alive. A lock left
 * by a process that is gone (kill -9, power loss) is taken over. Best effort against a second server started by
 * mistake, not a distributed lock: a directory shared between machines is not supported.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class DataDirLockedError extends Error {
  constructor(
    readonly file: string,
    readonly pid: number,
  ) {
    super(
      `${file}: the data directory is in use by another Tether server (pid ${pid}). Stop it, or give this one its own TETHER_DATA_DIR. If no such process is a Tether server, delete the file.`,
    );
    this.name = 'DataDirLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Takes the directory's lock; resolves with its release. Throws DataDirLockedError if a live process holds it. */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, 'tether.lock');
  const release = async () => {
    // Only our own lock: a later server may have taken over a lock we were told was stale.
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (holder === process.pid) await unlink(file).catch(() => {});
  };
  for (let tries = 0; tries < 3; tries++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    // This process (another store of the same process, as tests open) or a process that is gone: take it over.
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) throw new DataDirLockedError(file, holder);
    if (holder === process.pid) return release;
    // Gone already (another start took it over and left): fine. Anything else (a read-only directory) is the real
    // reason this start cannot go on, and must not turn into "the lock kept changing hands".
    await unlink(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
  throw new Error(`${file}: could not take the data directory's lock (it kept changing hands)`);
}
