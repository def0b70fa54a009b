/**
 * The safety settings: TETHER_ALLOWED_TARGETS (hosts or URL prefixes a run may target; only http/https ever; this
 * server's simulator stays allowed), the body limit, the secret file created 0600, and the warning printed when the
 * server listens beyond loopback without TETHER_API_TOKEN (read from a real child process's output).
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Run } from '@tether/machine';
import { checkTarget } from '../src/plugins/targets.ts';
import { loadSettings, SettingsError } from '../src/settings.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { serve, type Served } from './helpers/fuzz-server.ts';
import { ServerProcess, freePort, runUntilExit } from './helpers/soak-server.ts';

const open: Served[] = [];
let ext: FakeExternalSystem | undefined;
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  await ext?.close();
  ext = undefined;
});
const start = async (...args: Parameters<typeof serve>) => {
  const s = await serve(...args);
  open.push(s);
  return s;
};

describe('TETHER_ALLOWED_TARGETS', () => {
  const allowed = (url: string, list: string, own: string[] = []) => {
    try {
      checkTarget(url, loadSettings({ TETHER_ALLOWED_TARGETS: list }), own);
      return true;
    } catch (e) {
      expect((e as { code?: string }).code).toBe('TETHER_TARGET_NOT_ALLOWED');
      return false;
    }
  };

  it('reads hosts, host:port and URL prefixes; refuses anything else at start-up', () => {
    expect(loadSettings({}).allowedTargets).toEqual([]);
    expect(
      loadSettings({ TETHER_ALLOWED_TARGETS: ' Jobs.Internal , 10.0.0.5:8080,https://api.example.com/jobs,, [::1]:9000 ' }).allowedTargets,
    ).toEqual(['jobs.internal', '10.0.0.5:8080', 'https://api.example.com/jobs', '[::1]:9000']);
    for (const bad of [
      'ftp://files.example.com/',
      'https://user:pw@api.example.com/',
      'https://api.example.com/?q=1',
      'not a host',
      'https://',
      'jobs.internal/path',
    ])
      expect(() => loadSettings({ TETHER_ALLOWED_TARGETS: bad }), bad).toThrow(SettingsError);
  });

  it('matches hosts exactly, and prefixes on origin and whole path segments, never as raw text', () => {
    const list = 'jobs.internal,10.0.0.5:8080,https://api.example.com/jobs';
    const cases: Array<[string, boolean]> = [
      ['http://jobs.internal/run', true],
      ['https://JOBS.internal:8443/run', true],
      ['http://jobs.internal.evil.net/run', false],
      ['http://evil.net/jobs.internal', false],
      ['http://10.0.0.5:8080/x', true],
      ['http://10.0.0.5:8081/x', false],
      ['http://10.0.0.5/x', false],
      ['https://api.example.com/jobs', true],
      ['https://api.example.com/jobs/', true],
      ['https://api.example.com/jobs/42?x=1', true],
      ['https://api.example.com/jobs/../admin', false],
      ['https://api.example.com/jobs%2F..%2Fadmin', false],
      ['https://api.example.com/jobsX', false],
      ['https://api.example.com/admin', false],
      ['http://api.example.com/jobs', false],
      ['https://api.example.com:444/jobs', false],
      ['https://api.example.com.evil.net/jobs', false],
      ['https://api.example.com@evil.net/jobs', false],
    ];
    for (const [url, ok] of cases) expect(allowed(url, list), url).toBe(ok);
    // Empty list: any http(s) URL; never another scheme, whatever the list.
    expect(allowed('http://anything.example/', '')).toBe(true);
    expect(allowed('ftp://jobs.internal/', 'jobs.internal')).toBe(false);
    // This server's simulator, as handed in by the route, stays allowed; a neighbouring path does not.
    expect(allowed('http://127.0.0.1:3000/simulator/jobs', list, ['http://127.0.0.1:3000/simulator/jobs'])).toBe(true);
    expect(allowed('http://127.0.0.1:3000/simulator/other', list, ['http://127.0.0.1:3000/simulator/jobs'])).toBe(false);
  });

  it('through the API: a refused target is 400 naming the setting and creates nothing; allowed ones and the simulator run', async () => {
    ext = await new FakeExternalSystem().start();
    const extHost = new URL(ext.url).host;
    const s = await start({ env: { TETHER_ALLOWED_TARGETS: `${extHost},https://api.example.com/jobs` } });
    const port = new URL(s.base).port;
    const create = (url: string) => s.send('POST', '/api/runs', { json: { target: { url }, timeoutSeconds: 30, retryLimit: 0 } });
    for (const url of [
      'https://api.example.com.evil.net/jobs',
      'http://127.0.0.1:1/jobs',
      `http://127.0.0.1:${port}/api/runs`,
      `${s.base}/simulator/jobsX`,
    ]) {
      const a = await create(url);
      expect(a.status, url).toBe(400);
      expect(a.json, url).toEqual({
        error: {
          code: 'TETHER_TARGET_NOT_ALLOWED',
          message: expect.stringContaining('is not in TETHER_ALLOWED_TARGETS'),
          fields: [{ path: 'target.url', message: expect.stringContaining('is not in TETHER_ALLOWED_TARGETS') }],
        },
      });
    }
    expect(s.app.tether.engine.runCount).toBe(0);
    for (const url of [ext.url, `${s.base}/simulator/jobs`, `http://localhost:${port}/simulator/jobs`])
      expect((await create(url)).status, url).toBe(201);
    await s.idle();
  });

  it('with the simulator off, its URL is refused like any other', async () => {
    const s = await start({ env: { TETHER_ALLOWED_TARGETS: 'jobs.internal', TETHER_SIMULATOR: 'off' } });
    const a = await s.send('POST', '/api/runs', { json: { target: { url: `${s.base}/simulator/jobs` }, timeoutSeconds: 30, retryLimit: 0 } });
    expect(a.status).toBe(400);
  });

  it('a re-run is checked against the list in force now, not the one its original was created under', async () => {
    ext = await new FakeExternalSystem().start();
    const dir = await mkdtemp(join(tmpdir(), 'tether-rerun-'));
    try {
      const before = await serve({ dataDir: dir });
      const created = await before.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 30, retryLimit: 0 } });
      expect(created.status).toBe(201);
      await before.idle();
      await before.close();
      const after = await start({ dataDir: dir, env: { TETHER_ALLOWED_TARGETS: 'jobs.internal' } });
      const rerun = await after.send('POST', `/api/runs/${(created.json as Run).id}/rerun`, { json: {} });
      expect(rerun.status).toBe(400);
      expect((rerun.json as { error: { code: string } }).error.code).toBe('TETHER_TARGET_NOT_ALLOWED');
      expect(after.app.tether.engine.runCount).toBe(1);
    } finally {
      for (const s of open.splice(0)) await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('body limit', () => {
  it('a request body over TETHER_BODY_LIMIT is 413 with a coded error, and creates nothing', async () => {
    const s = await start({ env: { TETHER_BODY_LIMIT: '4096' } });
    const a = await s.send('POST', '/api/runs', {
      json: { target: { url: 'http://127.0.0.1:1/' }, timeoutSeconds: 1, retryLimit: 0, payload: 'x'.repeat(5000) },
    });
    expect(a.status).toBe(413);
    expect(a.json).toEqual({ error: { code: 'TETHER_BODY_TOO_LARGE', message: 'body is larger than the limit' } });
    expect(s.app.tether.engine.runCount).toBe(0);
    expect(() => loadSettings({ TETHER_BODY_LIMIT: '10' })).toThrow(/TETHER_BODY_LIMIT must be an integer in \[1024/);
  });
});

describe('the secret', () => {
  it('is generated into the data dir with mode 0600 and kept across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tether-secret-'));
    try {
      const first = await serve({ dataDir: dir, env: { TETHER_SECRET: '' } });
      const file = join(dir, 'secret');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const secret = (await readFile(file, 'utf8')).trim();
      expect(secret.length).toBeGreaterThanOrEqual(32);
      const sig = first.app.tether.signer.sign('run_x', 'att_x_1');
      await first.close();
      const second = await serve({ dataDir: dir, env: { TETHER_SECRET: '' } });
      expect(second.app.tether.signer.sign('run_x', 'att_x_1')).toBe(sig);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('listening beyond loopback', () => {
  const WARNING = 'without TETHER_API_TOKEN';
  /** Starts a real server child, makes one request, and returns what it printed up to that request's log line. */
  async function outputOf(env: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'tether-warn-'));
    const port = await freePort();
    const p = new ServerProcess({ port, dataDir: join(dir, 'data'), logFile: join(dir, 'log'), env: { TETHER_LOG_LEVEL: 'info', ...env } });
    try {
      await p.start();
      // Pino writes synchronously: once the line for this request is out, any start-up warning is out before it.
      await fetch(`http://127.0.0.1:${port}/healthz`);
      for (const until = Date.now() + 10_000; !p.output.includes('/healthz') && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
      expect(p.output).toContain('/healthz');
      return p.output;
    } finally {
      await p.close();
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('warns on 0.0.0.0 without a token; not with a token, not on loopback', async () => {
    const [open0, withToken, loopback] = await Promise.all([
      outputOf({ HOST: '0.0.0.0' }),
      outputOf({ HOST: '0.0.0.0', TETHER_API_TOKEN: 'a-long-enough-token' }),
      outputOf({ HOST: '127.0.0.1' }),
    ]);
    expect(open0).toContain(`listening on 0.0.0.0 ${WARNING}`);
    expect(withToken).not.toContain(WARNING);
    expect(loopback).not.toContain(WARNING);
  }, 60_000);

  it('a bad safety setting stops start-up with exit code 2 and says which', async () => {
    const r = await runUntilExit({ TETHER_ALLOWED_TARGETS: 'ftp://files.example.com/', TETHER_DATA_DIR: join(tmpdir(), 'tether-never-created') });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.output).toContain('Tether: bad setting: TETHER_ALLOWED_TARGETS');
  }, 30_000);
});
