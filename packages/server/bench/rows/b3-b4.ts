/**
 * B3 heap per waiting run at 100k, B4 timeout lateness with 100k armed timeouts: one child process (--expose-gc)
 * with an in-process engine on the real lowdb store (see procs/timers-heap.ts).
 *
 * The data dir is on tmpfs (/dev/shm) when there is one: these rows measure heap and timer lateness, not the disk,
 * and creating 100k runs through the engine on the shared ext4 disk takes minutes (the disk is B1/B2/B5's subject).
 */
import { existsSync } from 'node:fs';
import { runChild } from '../lib/child.ts';
import { progress, round, QUICK } from '../lib/util.ts';
import type { Row } from '../lib/row.ts';

interface Stats {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}
interface Result {
  n: number;
  createSec: number;
  createRunsPerSec: number;
  heapPerWaitingRunBytes: number;
  windowMs: number;
  fired: number;
  fireSec: number;
  lateness: Stats;
  eldMaxMs: number;
  bareNodeTimers: Stats;
}

export async function benchTimersAndHeap(): Promise<Row[]> {
  // BENCH_B34_N: fewer runs (the pre-fix engine needs minutes for 100k); the window keeps 2,000 timeouts a second.
  const n = Number(process.env.BENCH_B34_N ?? (QUICK ? 400 : 100_000));
  // Due evenly over the window: 2,000 timeouts a second, each fire a full commit (attempt timed out → run failed).
  const windowMs = QUICK ? 1_000 : Math.round(n / 2);
  const base = existsSync('/dev/shm') ? '/dev/shm' : undefined;
  progress(
    `B3/B4: creating ${n} waiting runs in-process (data dir on ${base ?? 'the default tmpdir'}), then firing their timeouts over ${windowMs / 1000} s`,
  );
  const r = await runChild<Result>('bench/procs/timers-heap.ts', {
    name: 'B3/B4 engine',
    nodeArgs: ['--expose-gc'],
    args: [String(n), String(windowMs), ...(base ? [base] : [])],
    timeoutMs: 20 * 60_000,
    onProgress: (line) => progress(line),
  });
  const kib = r.heapPerWaitingRunBytes / 1024;
  const l = r.lateness;
  return [
    {
      id: 'B3',
      measure: `heap per waiting run at ${n} waiting runs (in-process, after full GC, ÷ n)`,
      figure: `${round(kib, 2)} KiB (${Math.round(r.heapPerWaitingRunBytes)} B)`,
      goal: '≤ 1.5 KiB',
      pass: kib <= 1.5,
      details: { waitingRuns: n, heapPerWaitingRunBytes: r.heapPerWaitingRunBytes, createRunsPerSec: r.createRunsPerSec },
    },
    {
      id: 'B4',
      measure: `timeout lateness with ${n} armed attempt timeouts, all due within ${windowMs / 1000} s, each fire committed`,
      figure: `p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms (bare setTimeout floor: p99 ${r.bareNodeTimers.p99} ms, max ${r.bareNodeTimers.max} ms)`,
      goal: 'p99 ≤ 5 ms, max ≤ 50 ms',
      pass: l.p99 <= 5 && l.max <= 50 && r.fired >= n,
      details: { ...r },
    },
  ];
}
