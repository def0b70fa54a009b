/**
 * The store settings (TETHER_STORE, TETHER_DATABASE_URL / DATABASE_URL, TETHER_NODE_ID), and what a node does when its
 * database is not there at start: exit code 8 with one line that names the cause and never the password.
 */
import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { loadSettings, SettingsError } from '../src/settings.ts';
import { freePort, runUntilExit } from './helpers/soak-server.ts';

const refused = (env: NodeJS.ProcessEnv) => {
  try {
    loadSettings(env);
  } catch (e) {
    expect(e).toBeInstanceOf(SettingsError);
    return (e as Error).message;
  }
  return expect.fail(`settings ${JSON.stringify(env)} were accepted`);
};

describe('store settings', () => {
  it('default: the file store, no database, node id host:pid', () => {
    const s = loadSettings({});
    expect([s.store, s.databaseUrl, s.nodeId]).toEqual(['file', null, `${hostname()}:${process.pid}`]);
  });

  it('postgres with TETHER_DATABASE_URL, or DATABASE_URL when that is unset; TETHER_NODE_ID names the node', () => {
    const a = loadSettings({
      TETHER_STORE: 'postgres',
      TETHER_DATABASE_URL: 'postgres://u:p@db:5432/t',
      DATABASE_URL: 'postgres://x@y/z',
      TETHER_NODE_ID: 'a',
    });
    expect([a.store, a.databaseUrl, a.nodeId]).toEqual(['postgres', 'postgres://u:p@db:5432/t', 'a']);
    expect(loadSettings({ TETHER_STORE: 'postgres', DATABASE_URL: 'postgresql://x@y/z' }).databaseUrl).toBe('postgresql://x@y/z');
  });

  it('refuses an unknown store, postgres without a URL, and a URL that is not postgres:// — without echoing the URL', () => {
    expect(refused({ TETHER_STORE: 'mysql' })).toMatch(/TETHER_STORE must be "file" or "postgres", got "mysql"/);
    expect(refused({ TETHER_STORE: 'postgres' })).toMatch(/needs TETHER_DATABASE_URL/);
    const msg = refused({ TETHER_STORE: 'postgres', TETHER_DATABASE_URL: 'mysql://root:hunter2@db/x' });
    expect(msg).toMatch(/TETHER_DATABASE_URL must be a postgres:\/\/ URL/);
    expect(msg).not.toContain('hunter2');
  });

  it('a database that is not there at start: exit code 8, one line naming the cause, not the password', async () => {
    const port = await freePort(); // nothing listens there
    const r = await runUntilExit({ TETHER_STORE: 'postgres', TETHER_DATABASE_URL: `postgres://tether:s3cret-pw@127.0.0.1:${port}/tether` });
    expect(r.code, r.output).toBe(8);
    expect(r.stderr).toMatch(/cannot start: The database is unavailable: .*ECONNREFUSED/);
    expect(r.output).not.toContain('s3cret-pw');
  });
});
