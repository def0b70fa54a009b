/** Entry point of the `tether` command (bin/tether.mjs loads it under tsx). */
import process from 'node:process';
import { runCli } from './cli/program.ts';

const ac = new AbortController();
process.once('SIGINT', () => ac.abort());
// `tether runs list | head`: the reader went away; stop quietly, as other commands do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: ac.signal,
});
process.exitCode = code;
// Nothing should be left running, but an idle keep-alive socket must not hold the exit code hostage.
setTimeout(() => process.exit(code), 2000).unref();
