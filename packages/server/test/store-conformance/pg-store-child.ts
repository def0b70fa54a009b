/**
 * The PgRunStore crash child of the conformance suite (harness.ts CrashChild): opens the database it is given with
 * the store the server uses, runs the crash workload and prints each acknowledged run id on stdout, until the suite
 * SIGKILLs it (its connections die with it; PostgreSQL rolls back whatever statement was in flight).
 *
 *   node --import tsx test/store-conformance/pg-store-child.ts <databaseUrl> <first> <count>
 */
import { PgRunStore } from '../../src/store/pg/pg-run-store.ts';
import { runCrashWorkload } from './runs.ts';

const [url, first, count] = process.argv.slice(2);
if (!url || first === undefined || count === undefined) throw new Error('usage: pg-store-child.ts <databaseUrl> <first> <count>');

const store = new PgRunStore({ url, nodeId: 'crash-child' });
await store.open();
await runCrashWorkload(store, { first: Number(first), count: Number(count) }, (id) => process.stdout.write(`${id}\n`));
await store.close();
