import { benchThroughput } from './rows/b1-b2-b7.ts';
import { withTempDir } from './lib/util.ts';
import { printRow } from './lib/row.ts';
const rows = await withTempDir('try', (d) => benchThroughput(d, 'http://127.0.0.1:9/jobs'));
rows.forEach(printRow);
