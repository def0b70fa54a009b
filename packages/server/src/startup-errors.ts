/**
 * What a start that cannot touch its data directory tells the operator: one line saying what, where and what to do,
 * and an exit code of its own — not a stack trace, and not a lock or secret message that sends them the wrong way.
 *
 *   6  the data directory is read-only or not writable (EROFS, EACCES, EPERM)
 *   7  the device holding it is full (ENOSPC, EDQUOT)
 */
export interface StartupFailure {
  exitCode: 6 | 7;
  line: string;
}

const READ_ONLY = new Set(['EROFS', 'EACCES', 'EPERM']);
const FULL = new Set(['ENOSPC', 'EDQUOT']);

/** The failure to report for `e`, thrown while starting on `dataDir`; null when it is not a storage failure. */
export function startupFailure(e: unknown, dataDir: string): StartupFailure | null {
  const err = e as NodeJS.ErrnoException | null;
  const code = err?.code;
  if (typeof code !== 'string') return null;
  const where = err?.path ? ` (${err.syscall ?? 'writing'} ${err.path})` : '';
  if (READ_ONLY.has(code)) {
    return {
      exitCode: 6,
      line: `Tether: cannot start: the data directory ${dataDir} is not writable: ${code}${where}. Make it writable by this user, or set TETHER_DATA_DIR to a writable directory.`,
    };
  }
  if (FULL.has(code)) {
    return {
      exitCode: 7,
      line: `Tether: cannot start: no space left on the device holding ${dataDir}: ${code}${where}. Free some space there (Tether needs a few KiB to start; runs need more), then start again.`,
    };
  }
  return null;
}
