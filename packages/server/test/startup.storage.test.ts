/**
 * Hardening (issue 13.7): a data directory that is read-only or on a full disk at start-up gives one clear line
 * (what, where, what to do) and an exit code of its own — 6 not writable, 7 full — never a stack trace or a lock
 * message; and a start never needs free space just to rewrite the derived index before it can serve.
 *
 * Real file systems: a tmpfs mounted for the test (read-only by remount, full by size). The tests run as root, whom
 * chmod does not stop, so a mount is the honest way to make a directory unwritable. Mounting needs CAP_SYS_ADMIN:
 * without it this file fails, loudly, rather than skipping.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LowdbRunStore } from '../src/store/lowdb-store.ts';
import { makeDoc, runIdFor, summaryOf } from './helpers/run-docs.ts';
import { runUntilExit, SERVER_PACKAGE_DIR } from './helpers/soak-server.ts';

let mnt: string;
const mount = (opts: string) => execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', mnt]);
const remountReadOnly = () => execFileSync('mount', ['-o', 'remount,ro', mnt]);

beforeEach(async () => {
  mnt = await mkdtemp(join(tmpdir(), 'tether-mnt-'));
});
afterEach(async () => {
  try {
    execFileSync('umount', [mnt]);
  } catch {
    /* not mounted */
  }
  await rm(mnt, { recursive: true, force: true });
});

/** A data dir holding `n` runs (files written back, index complete) and its secret, as a cleanly stopped server leaves it. */
async function seedDataDir(dir: string, n: number): Promise<void> {
  const store = new LowdbRunStore({ dir });
  await store.load();
  for (let i = 1; i <= n; i++) {
    const doc = makeDoc(runIdFor(i), i % 2 ? 'awaitingCallback' : 'succeeded');
    await store.commit(doc, summaryOf(doc));
  }
  await store.close();
  await writeFile(join(dir, 'secret'), 'storage-test-secret-storage-test-secret\n', { mode: 0o600 });
}

/** Fills the file system holding `dir` until `leaveBytes` (or less) are free. */
async function fill(dir: string, leaveBytes: number): Promise<void> {
  const s = await statfs(dir);
  const free = Number(s.bavail) * Number(s.bsize);
  if (free > leaveBytes) await writeFile(join(dir, 'filler'), Buffer.alloc(free - leaveBytes));
}

const expectOneClearLine = (output: string, dir: string, what: RegExp) => {
  const lines = output.trim().split('\n');
  expect(lines, output).toHaveLength(1);
  expect(lines[0]).toMatch(what);
  expect(lines[0]).toContain(dir);
  expect(output).not.toMatch(/\n\s+at /); // no stack trace
  expect(output).not.toMatch(/in use by another Tether server|secret/i);
};

describe('start-up on a data directory that cannot be written', () => {
  it('read-only, holding runs: exit code 6 with one line naming the directory', async () => {
    mount('size=4m');
    const dir = join(mnt, 'data');
    await mkdir(dir);
    await seedDataDir(dir, 5);
    remountReadOnly();
    const out = await runUntilExit({ TETHER_DATA_DIR: dir });
    expect(out.timedOut).toBe(false);
    expect(out.code, out.output).toBe(6);
    expectOneClearLine(out.output, dir, /^Tether: cannot start: the data directory .* is not writable: EROFS/);
  }, 60_000);

  it('read-only with a lock left by a dead server: still exit code 6, not a lock message', async () => {
    mount('size=4m');
    const dir = join(mnt, 'data');
    await mkdir(dir);
    await seedDataDir(dir, 2);
    await writeFile(join(dir, 'tether.lock'), '999999999\n'); // no such process
    remountReadOnly();
    const out = await runUntilExit({ TETHER_DATA_DIR: dir });
    expect(out.code, out.output).toBe(6);
    expectOneClearLine(out.output, dir, /not writable: EROFS/);
  }, 60_000);

  it('a full disk, empty data directory: exit code 7 with one line naming the directory', async () => {
    mount('size=256k');
    const dir = join(mnt, 'data');
    await mkdir(dir);
    await fill(mnt, 0);
    const out = await runUntilExit({ TETHER_DATA_DIR: dir, TETHER_SECRET: 'storage-test-secret-storage-test-secret' });
    expect(out.code, out.output).toBe(7);
    expectOneClearLine(out.output, dir, /^Tether: cannot start: no space left on the device holding .*: ENOSPC/);
  }, 60_000);

  it('a nearly full disk and an index that wants compacting: the start skips the rewrite and serves', async () => {
    mount('size=2m');
    const dir = join(mnt, 'data');
    await mkdir(dir);
    await seedDataDir(dir, 40);
    // Superseded lines beyond twice the runs: a start would rewrite the index (≈ 4 × its size while the temp file exists).
    const index = await readFile(join(dir, 'index.jsonl'), 'utf8');
    await writeFile(join(dir, 'index.jsonl'), index.repeat(3));
    expect(index.length * 3).toBeGreaterThan(24 * 1024);
    await fill(mnt, 12 * 1024); // room for the lock file and an empty journal segment, not for a new index

    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: SERVER_PACKAGE_DIR,
      env: { ...process.env, HOST: '127.0.0.1', PORT: '0', TETHER_DATA_DIR: dir, TETHER_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const listening = new Promise<string>((resolve, reject) => {
      const onData = (c: Buffer) => {
        output += c.toString('utf8');
        const m = /Dashboard:\s+(http:\/\/[^/\s]+)/.exec(output);
        if (m) resolve(m[1]!);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
    });
    try {
      const base = await listening;
      const health = (await (await fetch(`${base}/healthz`)).json()) as { runs: number };
      expect(health.runs).toBe(40);
      const list = (await (await fetch(`${base}/api/runs?limit=500`)).json()) as { runs: unknown[] };
      expect(list.runs).toHaveLength(40);
      expect(output).toMatch(/index\.jsonl not compacted \(ENOSPC/);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    // Every line it kept was true (only superseded copies were left in): no index.stale, the next start trusts it.
    expect(
      await stat(join(dir, 'index.stale')).then(
        () => true,
        () => false,
      ),
    ).toBe(false);
  }, 60_000);
});
