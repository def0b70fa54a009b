/**
 * What a store implementation gives the conformance suite (suite.ts): fresh storage per test, and ways to open store
 * instances on it. Written so that any store can provide it — the embedded file store (a temp directory) as well as a
 * database store (a fresh database or schema, and a URL instead of a directory):
 *
 *   describeStoreConformance('PgRunStore', async () => {
 *     const url = await createScratchDatabase();
 *     return {
 *       location: redact(url),
 *       open: async () => { const store = new PgRunStore({ url }); return { store, opened: await store.open() }; },
 *       reopenAfterCrash: async (abandoned) => { await (abandoned as PgRunStore).terminateConnections(); … },
 *       bytesWritten: () => walBytesSince(url, start),              // pg_current_wal_lsn() - start
 *       faults: { whileWritesFail: (store, act) => withProxyDown(act) },
 *       crashChild: { spawn: (w) => spawn(process.execPath, ['--import', 'tsx', PG_CHILD, url, String(w.first), String(w.count)], …) },
 *       cleanup: () => dropScratchDatabase(url),
 *     };
 *   });
 */
import type { ChildProcess } from 'node:child_process';
import type { OpenedStore, RunStore } from '../../src/store/contract.ts';

/** A store instance whose open() has resolved, and what open() returned. */
export interface OpenStore {
  store: RunStore;
  opened: OpenedStore;
}

/** One test's storage: empty when the factory returns it. */
export interface StoreStorage {
  /** Where it is (a directory; a database URL without its password): named in failure messages. */
  readonly location: string;

  /**
   * A new store instance on this storage, opened. The suite closes every instance it opened (at the latest after
   * the test), and never has two open on the storage at once.
   */
  open(): Promise<OpenStore>;

  /**
   * Optional: a new instance, opened, on the storage as a crash of `abandoned` at this instant would leave it — what
   * its acknowledged commits made durable and nothing of its shutdown (`abandoned` is not closed first; the suite
   * never uses it again, the storage disposes of it). Called only while no commit is in flight. File store: a copy of
   * the directory as it is now, opened from then on. Database: terminate the old pool's connections, open a new one.
   */
  reopenAfterCrash?(abandoned: RunStore): Promise<OpenStore>;

  /**
   * Optional cost probe: bytes written to the storage so far for commits — monotonic while nothing but commits
   * happens (no background maintenance between two calls around one commit). File store: the size of the journal
   * segments plus the index. Database: WAL bytes (pg_current_wal_lsn() minus its value at the start).
   */
  bytesWritten?(): Promise<number>;

  /** Optional real faults (not mocks of the store's own code). */
  faults?: StoreFaults;

  /** Optional: a child process committing on this storage, to be killed with SIGKILL. */
  crashChild?: CrashChild;

  /** Removes the storage. After every test, once the suite has closed (or abandoned) its instances. */
  cleanup(): Promise<void>;
}

export interface StoreFaults {
  /**
   * Runs `act` (which commits through `store`, an open instance on this storage) while the storage's writes fail for
   * real — a full disk, a file size limit, a dropped connection — then lifts the fault and returns what `act` did.
   * Only writes `act` makes may be affected, and the first write must fail (part-way, where the medium can).
   */
  whileWritesFail<T>(store: RunStore, act: () => Promise<T>): Promise<T>;
}

/** What a crash child is told to commit: runs `first` … `first + count - 1` of `crashScript` (runs.ts). */
export interface CrashWorkload {
  first: number;
  count: number;
}

export interface CrashChild {
  /**
   * Spawns a process that opens this storage with the same store (same options), runs `runCrashWorkload(store,
   * workload, id => …)` (runs.ts) and writes each acknowledged run id on its own line to stdout — only after its
   * last commit resolved. stdout must be a pipe; stderr is best inherited. The suite SIGKILLs it; nothing of the
   * storage may be open in the suite meanwhile.
   */
  spawn(workload: CrashWorkload): ChildProcess;
}

/** Called once per test: fresh, empty storage. */
export type StoreFactory = () => Promise<StoreStorage>;
