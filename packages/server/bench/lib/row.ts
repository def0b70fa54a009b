/** One line of the benchmark table: what was measured, the figure, the goal, and whether it is met. */
export interface Row {
  id: string;
  measure: string;
  figure: string;
  goal: string;
  pass: boolean;
  /** Raw numbers behind the figure, written to docs/benchmarks.json. */
  details: Record<string, unknown>;
}

export function printRow(r: Row): void {
  console.log(`\n${r.id}  ${r.measure}\n    ${r.figure}   goal ${r.goal}   ${r.pass ? 'PASS' : 'FAIL'}\n`);
}
