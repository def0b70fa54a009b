/** Writes the benchmark table: JSON (every raw number) and Markdown (the table between markers, notes kept). */
import { execSync } from 'node:child_process';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem, freemem } from 'node:os';
import { dirname } from 'node:path';
import type { Row } from './row.ts';

export interface Machine {
  date: string;
  node: string;
  nproc: number;
  cpu: string;
  memTotalMiB: number;
  memFreeMiB: number;
  free: string;
  loadAvgStart: number[];
  loadAvgEnd?: number[];
}

export function machineInfo(): Machine {
  let free = '';
  try {
    free = execSync('free -m', { encoding: 'utf8' }).trimEnd();
  } catch {
    /* not on every system */
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memTotalMiB: Math.round(totalmem() / 2 ** 20),
    memFreeMiB: Math.round(freemem() / 2 ** 20),
    free,
    loadAvgStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

export const BEGIN = '<!-- bench:begin (written by `pnpm bench`; edit outside the markers) -->';
export const END = '<!-- bench:end -->';

function table(rows: Row[], machine: Machine, command: string, errors: string[]): string {
  const lines = [
    BEGIN,
    '',
    `Measured ${machine.date} with \`${command}\` — ${machine.nproc} vCPU (${machine.cpu}), ${machine.memTotalMiB} MiB RAM, Node ${machine.node}; load average ${machine.loadAvgStart.join(' / ')} at the start${machine.loadAvgEnd ? `, ${machine.loadAvgEnd.join(' / ')} at the end` : ''} (the machine is shared: compare ratios within one run).`,
    '',
    '| # | Measure | Figure | Goal | |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.id} | ${r.measure} | ${r.figure} | ${r.goal} | ${r.pass ? 'PASS' : '**FAIL**'} |`),
    '',
    ...(errors.length ? ['Rows that could not run:', '', ...errors.map((e) => `- ${e}`), ''] : []),
    '```',
    '$ free -m',
    machine.free || '(free not available)',
    '```',
    '',
    END,
  ];
  return lines.join('\n');
}

const SKELETON = `# Benchmarks

\`pnpm bench\` (full) or \`pnpm bench --quick\` (CI smoke: tiny counts, checks that every row runs, not its speed).

${BEGIN}
${END}
`;

export async function writeReport(opts: {
  md: string;
  json: string;
  rows: Row[];
  machine: Machine;
  command: string;
  errors: string[];
}): Promise<void> {
  await mkdir(dirname(opts.md), { recursive: true });
  await writeFile(opts.json, `${JSON.stringify({ command: opts.command, machine: opts.machine, rows: opts.rows, errors: opts.errors }, null, 2)}\n`);
  let md: string;
  try {
    md = await readFile(opts.md, 'utf8');
  } catch {
    md = SKELETON;
  }
  const start = md.indexOf(BEGIN);
  const end = md.indexOf(END);
  const block = table(opts.rows, opts.machine, opts.command, opts.errors);
  md = start >= 0 && end > start ? `${md.slice(0, start)}${block}${md.slice(end + END.length)}` : `${md.trimEnd()}\n\n${block}\n`;
  await writeFile(opts.md, md);
}
