/**
 * What one commit costs the file system here, without Tether: the evidence for what bounds B1/B8 on a given disk.
 *   node --import tsx bench/fs-probe.ts [dir, default os.tmpdir()]   (try /dev/shm for tmpfs)
 * Per commit of a 3.5 KB run document, synchronous (kernel cost on one thread), then asynchronous at 100 in flight
 * (what the async fs API sustains), then an append-only log for comparison (what a log-structured store would pay).
 */
import * as fs from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = process.argv[2] ?? tmpdir();
const dir = fs.mkdtempSync(join(base, 'tether-fs-probe-'));
const text = 'x'.repeat(3500);
const RUNS = 5000;
const N = 4000;
const out: Record<string, number> = {};
try {
  for (let r = 0; r < RUNS; r++) fs.writeFileSync(join(dir, `r${r}.json`), text);
  let k = 0;
  let t = performance.now();
  for (let i = 0; i < N; i++) {
    const tmp = join(dir, `.t${++k}`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, join(dir, `r${i % RUNS}.json`));
  }
  out.syncTempRenameUs = ((performance.now() - t) * 1000) / N;

  t = performance.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (i < N) {
        const n = i++;
        const tmp = join(dir, `.t${++k}`);
        const fd = await open(tmp, 'w', 0o644);
        await fd.writeFile(text, 'utf8');
        await fd.close();
        await rename(tmp, join(dir, `r${n % RUNS}.json`));
      }
    }),
  );
  out.asyncTempRenameCommitsPerSec = N / ((performance.now() - t) / 1000);

  const fd = fs.openSync(join(dir, 'log'), 'a');
  t = performance.now();
  for (let j = 0; j < N; j++) fs.writeSync(fd, text);
  out.syncAppendUs = ((performance.now() - t) * 1000) / N;
  fs.closeSync(fd);

  t = performance.now();
  for (let j = 0; j < N; j++) fs.readFileSync(join(dir, `r${j % RUNS}.json`), 'utf8');
  out.syncReadUs = ((performance.now() - t) * 1000) / N;
  console.log(JSON.stringify({ dir: base, ...Object.fromEntries(Object.entries(out).map(([key, v]) => [key, Math.round(v)])) }));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
