/**
 * The store conformance suite (test/store-conformance/suite.ts) against the PostgreSQL store: PgRunStore on a scratch
 * database per test, on a PostgreSQL server of this file's own (test/store-conformance/pg-store.ts).
 */
import { afterAll, beforeAll } from 'vitest';
import { describeStoreConformance } from './store-conformance/suite.ts';
import { pgStoreStorage } from './store-conformance/pg-store.ts';
import { startPostgres, type PgServer } from './helpers/postgres.ts';

let server: PgServer;
beforeAll(async () => {
  server = await startPostgres({ flags: ['-c', 'autovacuum=off', '-c', 'full_page_writes=off'] });
});
afterAll(async () => {
  await server?.destroy();
});

describeStoreConformance('PgRunStore', () => pgStoreStorage(server.adminUrl));
