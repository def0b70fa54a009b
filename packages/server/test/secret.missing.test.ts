/**
 * A lost secret is refused, not replaced: a data directory that holds runs but no `secret` file (and no TETHER_SECRET)
 * stops start-up with exit code 5 and a message naming the file, instead of generating a new secret that would make
 * every callback URL already handed out fail verification. Read from a real child server process; the detection itself
 * is checked file kind by file kind.
 */
import { mkdir, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Run } from '@tether/machine';
import { existingRunEvidence, loadOrCreateSecret, SecretMissingError } from '../src/engine/signer.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { serve } from './helpers/fuzz-server.ts';
import { ServerProcess, freePort, runUntilExit } from './helpers/soak-server.ts';

const dirs: string[] = [];
const tempDir = async (name: string) => {
  const d = await mkdtemp(join(tmpdir(), `tether-${name}-`));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

const exitOf = runUntilExit;

describe('detecting a data directory that holds runs', () => {
  it('an empty, absent or only-scaffolded directory holds none', async () => {
    const dir = await tempDir('evidence');
    expect(await existingRunEvidence(join(dir, 'absent'))).toBeNull();
    expect(await existingRunEvidence(dir)).toBeNull();
    // Created but never written to, plus an interrupted write's temp file and the lock: still no runs.
    await mkdir(join(dir, 'runs'));
    await mkdir(join(dir, 'journal'));
    await writeFile(join(dir, 'journal', '000000000001.jsonl'), '');
    await writeFile(join(dir, 'index.jsonl'), '');
    await writeFile(join(dir, 'runs', '.run_x.json.tmp-123'), '{}');
    await writeFile(join(dir, 'tether.lock'), '1\n');
    expect(await existingRunEvidence(dir)).toBeNull();
  });

  it('a run file, a journal segment with content, a non-empty index: each alone is enough', async () => {
    const journalOnly = await tempDir('evidence-journal');
    await mkdir(join(journalOnly, 'journal'));
    await writeFile(join(journalOnly, 'journal', '000000000001.jsonl'), '');
    await writeFile(join(journalOnly, 'journal', '000000000002.jsonl'), '{"id":"run_a"}\n');
    expect(await existingRunEvidence(journalOnly)).toBe(join('journal', '000000000002.jsonl'));

    const indexOnly = await tempDir('evidence-index');
    await writeFile(join(indexOnly, 'index.jsonl'), '{"id":"run_a"}\n');
    expect(await existingRunEvidence(indexOnly)).toBe('index.jsonl');

    const runOnly = await tempDir('evidence-run');
    await mkdir(join(runOnly, 'runs'));
    await writeFile(join(runOnly, 'runs', 'run_a.json'), '{}');
    expect(await existingRunEvidence(runOnly)).toBe(join('runs', 'run_a.json'));
  });

  it('loadOrCreateSecret refuses next to runs, creates nothing; TETHER_SECRET still wins; a fresh directory gets one', async () => {
    const dir = await tempDir('load');
    await writeFile(join(dir, 'index.jsonl'), '{"id":"run_a"}\n');
    const refused = await loadOrCreateSecret(dir).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SecretMissingError);
    expect(refused).toMatchObject({ code: 'TETHER_SECRET_MISSING', file: join(dir, 'secret'), evidence: 'index.jsonl' });
    expect(await exists(join(dir, 'secret'))).toBe(false);
    expect((await loadOrCreateSecret(dir, 'from-the-environment-0123456789abcdef')).toString()).toBe('from-the-environment-0123456789abcdef');

    const fresh = await tempDir('fresh');
    const generated = await loadOrCreateSecret(join(fresh, 'data'));
    expect((await readFile(join(fresh, 'data', 'secret'), 'utf8')).trim()).toBe(generated.toString());
  });
});

describe('a real server on a data directory that lost its secret', () => {
  it('exits with code 5 naming the file and creates no secret; with TETHER_SECRET it starts and the old URLs verify', async () => {
    const ext = await new FakeExternalSystem().start();
    const root = await tempDir('lost-secret');
    const dataDir = join(root, 'data');
    const secretFile = join(dataDir, 'secret');
    try {
      // A real run, awaiting its callback, under a generated secret.
      const first = await serve({ dataDir, env: { TETHER_SECRET: '' } });
      const created = await first.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 3600, retryLimit: 0 } });
      expect(created.status).toBe(201);
      const run = created.json as Run;
      const trigger = await ext.waitFor(1);
      await first.idle();
      await first.close();
      const secret = (await readFile(secretFile, 'utf8')).trim();
      await unlink(secretFile);

      const refused = await exitOf({ TETHER_DATA_DIR: dataDir });
      expect(refused.timedOut).toBe(false);
      expect(refused.code).toBe(5);
      expect(refused.stderr).toContain(`Tether: refusing to start. The callback secret ${secretFile} is missing`);
      expect(refused.stderr).toContain('every callback URL already handed out stop verifying');
      expect(refused.stderr).toContain('Restore the file');
      expect(refused.stderr).toContain('TETHER_SECRET');
      expect(refused.stdout).not.toContain('Tether is running');
      expect(await exists(secretFile)).toBe(false);

      // The way out the message gives: the old secret through the environment. The URL handed out before still works.
      const port = await freePort();
      const p = new ServerProcess({ port, dataDir, logFile: join(root, 'log'), env: { TETHER_SECRET: secret } });
      try {
        await p.start();
        const { pathname, search } = new URL(trigger.body.callbackUrl);
        const cb = await fetch(`${p.base}${pathname}${search}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ success: true }),
        });
        expect(cb.status).toBe(200);
        expect(((await cb.json()) as { result: string }).result).toBe('accepted');
        const after = (await (await fetch(`${p.base}/api/runs/${run.id}`)).json()) as Run;
        expect(after.status).toBe('succeeded');
      } finally {
        await p.close();
      }
      expect(await exists(secretFile)).toBe(false);
    } finally {
      await ext.close();
    }
  }, 60_000);
});
