/**
 * The FileRunStore crash child of the conformance suite (harness.ts CrashChild): opens the data directory it is given
 * with the store the server uses, runs the crash workload and prints each acknowledged run id on stdout, until the
 * suite SIGKILLs it. A small dirty budget makes write-backs run all along, so the kill can land in one.
 *
 *   node --import tsx test/store-conformance/file-store-child.ts <dataDir> <first> <count>
 */
import { FileRunStore } from '../../src/store/file-run-store.ts';
import { LowdbRunStore } from '../../src/store/lowdb-store.ts';
import { runCrashWorkload } from './runs.ts';

const [dir, first, count] = process.argv.slice(2);
if (!dir || first === undefined || count === undefined) throw new Error('usage: file-store-child.ts <dataDir> <first> <count>');

const store = new FileRunStore(new LowdbRunStore({ dir, dirtyBudgetBytes: 256 * 1024, writeBackIntervalMs: 0 }));
await store.open();
// process.stdout is synchronous for pipes on Linux: an id is in the pipe before the next commit starts.
await runCrashWorkload(store, { first: Number(first), count: Number(count) }, (id) => process.stdout.write(`${id}\n`));
await store.close();
