/**
 * One server per data directory: a second one refuses to start while the first is alive (two writers would interleave
 * one journal), and a lock left by a process that is gone — killed with SIGKILL — is taken over.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLockedError } from '../src/store/data-dir-lock.ts';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { tempDir } from './helpers/engine.ts';
import { runUntilExit } from './helpers/soak-server.ts';

const storeModule = fileURLToPath(new URL('../src/store/lowdb-store.ts', import.meta.url));

/** A real process that opens the store on `dir` and keeps it open until killed. Resolves once it holds the lock. */
function holder(dir: string): Promise<ChildProcess> {
  const code = `const { LowdbRunStore } = await import(${JSON.stringify(storeModule)}); await new LowdbRunStore({ dir: ${JSON.stringify(dir)} }).load(); console.log('locked'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve(child));
    child.on('exit', (c) => reject(new Error(`holder exited ${c}: ${err}`)));
  });
}

describe('the data directory lock', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let child: ChildProcess | null = null;
  beforeEach(async () => {
    tmp = await tempDir('tether-lock-');
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    await tmp.cleanup();
  });

  it('refuses a second store while the holder lives, names its pid, and takes the lock over once it was killed', async () => {
    child = await holder(tmp.dir);
    const second = new LowdbRunStore({ dir: tmp.dir });
    const err = await second.load().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as DataDirLockedError).pid).toBe(child.pid);
    expect((err as Error).message).toContain(`pid ${child.pid}`);

    const gone = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    const third = new LowdbRunStore({ dir: tmp.dir });
    await third.load(); // the stale lock (a dead pid) is taken over
    expect((await readFile(join(tmp.dir, 'tether.lock'), 'utf8')).trim()).toBe(String(process.pid));
    await third.close();
    await expect(readFile(join(tmp.dir, 'tether.lock'), 'utf8')).rejects.toThrow(/ENOENT/); // released at close
  }, 30_000);

  it('the server exits with code 4 and says which process holds the directory', async () => {
    child = await holder(tmp.dir);
    const r = await runUntilExit({ TETHER_DATA_DIR: tmp.dir });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(4);
    expect(r.output).toContain(`Tether: refusing to start.`);
    expect(r.output).toContain(`in use by another Tether server (pid ${child.pid})`);
  }, 30_000);
});
