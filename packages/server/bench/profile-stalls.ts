/**
 * Finds the longest stretches without an idle sample in a V8 .cpuprofile (the event loop was busy the whole time)
 * and prints what ran in each: the evidence for an event-loop block (B7).
 *   node --import tsx bench/profile-stalls.ts <file.cpuprofile> [minMs=15]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const p = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const minMs = Number(process.argv[3] ?? 15);
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n: Node) =>
  `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?/, '').replace(/^file:\/\/.*\/packages\//, '')}:${n.callFrame.lineNumber + 1}`;
const isIdle = (id: number) => byId.get(id)!.callFrame.functionName === '(idle)';
const stretches: { start: number; ms: number; from: number; to: number }[] = [];
let t = 0;
let runStart = -1;
let runFrom = 0;
p.samples.forEach((id, i) => {
  t += p.timeDeltas[i] ?? 0;
  if (!isIdle(id)) {
    if (runStart < 0) {
      runStart = t;
      runFrom = i;
    }
  } else if (runStart >= 0) {
    stretches.push({ start: runStart, ms: (t - runStart) / 1000, from: runFrom, to: i });
    runStart = -1;
  }
});
stretches.sort((a, b) => b.ms - a.ms);
for (const s of stretches.filter((x) => x.ms >= minMs).slice(0, 8)) {
  const counts = new Map<string, number>();
  for (let i = s.from; i < s.to; i++) {
    // The frame under the top-level dispatcher: which kind of work filled the stretch.
    const chain: string[] = [];
    for (let cur: number | undefined = p.samples[i]; cur !== undefined; cur = parent.get(cur)) chain.push(name(byId.get(cur)!));
    const key = chain.slice(-6, -1).reverse().join(' > ') + ' … ' + chain[0];
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  console.log(`\n${s.ms.toFixed(1)} ms busy at +${(s.start / 1e6).toFixed(2)} s (${s.to - s.from} samples):`);
  for (const [k, c] of [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`  ${c}  ${k}`);
}
