/**
 * `pnpm bench --quick` end to end, as CI runs it: every row group starts its real server and load-generator
 * processes and produces its row. Asserts that every row ran and reported a figure against its goal — never how
 * fast anything was (speed is the full benchmark's business, on a quiet machine, in docs/benchmarks.md).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const serverDir = fileURLToPath(new URL('..', import.meta.url));
let out: string;

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

it('pnpm bench --quick runs every row (B1–B16) and writes its table', async () => {
  out = await mkdtemp(join(tmpdir(), 'tether-bench-smoke-'));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick'], {
    cwd: serverDir,
    env: { ...process.env, BENCH_OUT: out },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (log += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
  const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
  expect(code, log).toBe(0);

  const report = JSON.parse(await readFile(join(out, 'benchmarks.quick.json'), 'utf8')) as {
    rows: { id: string; figure: string; goal: string; pass: boolean }[];
    errors: string[];
    machine: { nproc: number; node: string };
  };
  expect(report.errors).toEqual([]);
  const ids = Array.from({ length: 16 }, (_, i) => `B${i + 1}`);
  expect(report.rows.map((r) => r.id)).toEqual(ids);
  for (const r of report.rows) {
    expect(r.figure, r.id).toMatch(/\d/);
    expect(r.goal, r.id).not.toBe('');
    expect(typeof r.pass, r.id).toBe('boolean');
  }
  expect(report.machine.node).toBe(process.version);
  const md = await readFile(join(out, 'benchmarks.quick.md'), 'utf8');
  for (const id of ids) expect(md).toContain(`| ${id} |`);
  // Each row says PASS or FAIL next to its goal, in the log as well as in the table.
  expect(log.match(/ goal .* (PASS|FAIL)/g)).toHaveLength(ids.length);
  // A hang detector, not a speed limit: about 85 s on a quiet machine, well over 180 s with two CPU hogs (it starts a
  // dozen server processes and two PostgreSQL servers).
}, 600_000);
