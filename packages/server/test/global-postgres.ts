/**
 * Vitest globalSetup: one PostgreSQL for the whole run, shared by every test file (a test that needs isolation makes a
 * scratch database on it, see helpers/postgres.ts). With TETHER_TEST_DATABASE_URL set, that server is used instead; it
 * must name a role allowed to CREATE DATABASE. Never skips: if no server can be had, the run fails with the reason.
 */
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { redactUrl, startPostgres } from './helpers/postgres.ts';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.TETHER_TEST_DATABASE_URL;
  if (given) {
    await checkCanCreateDatabase(given);
    project.provide('pgAdminUrl', given);
    return undefined;
  }
  const server = await startPostgres();
  project.provide('pgAdminUrl', server.adminUrl);
  return () => server.destroy();
}

/** Fails the run up front, rather than in every test, when the given URL cannot connect or cannot create databases. */
async function checkCanCreateDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const { rows } = await client.query<{ ok: boolean }>('SELECT rolcreatedb OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user');
    if (!rows[0]?.ok) throw new Error('its role may not CREATE DATABASE');
  } catch (e) {
    throw new Error(`TETHER_TEST_DATABASE_URL (${redactUrl(url)}) is not usable for tests: ${(e as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
