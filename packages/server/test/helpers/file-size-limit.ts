/**
 * A real write failure for tests that run as root (whom chmod does not stop): RLIMIT_FSIZE on this process, set and
 * restored with util-linux `prlimit`. A write that would take a file past the limit writes up to it and then fails
 * with EFBIG (Node ignores SIGXFSZ), as a disk filling up mid-write would. Applies to every file this process writes,
 * worker threads included: keep `act` short and make sure only the file meant to fail can reach the limit.
 */
import { execFileSync } from 'node:child_process';

const prlimit = (...args: string[]) => execFileSync('prlimit', ['--pid', String(process.pid), ...args], { encoding: 'utf8' }).trim();

export async function withFileSizeLimit<T>(bytes: number, act: () => Promise<T>): Promise<T> {
  const soft = prlimit('--fsize', '--raw', '--noheadings', '--output=SOFT');
  prlimit(`--fsize=${bytes}:`);
  try {
    if (prlimit('--fsize', '--raw', '--noheadings', '--output=SOFT') !== String(bytes)) throw new Error('RLIMIT_FSIZE was not applied');
    return await act();
  } finally {
    prlimit(`--fsize=${soft}:`);
  }
}
