/**
 * Child processes for benchmarks: each server and each load generator runs in its own Node process, on loopback.
 * A child announces itself with one JSON line on stdout (`{"ready":true,…}` for servers, the result for one-shot
 * tools); anything else it prints is kept for error messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SERVER_DIR = fileURLToPath(new URL('../../', import.meta.url));

export interface Child {
  proc: ChildProcess;
  /** The ready line, parsed. */
  info: Record<string, unknown>;
  /** Resolves with the exit code once the process ends. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function spawnNode(script: string, args: string[], env: Record<string, string>, nodeArgs: string[]): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
    cwd: SERVER_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function collect(proc: ChildProcess, onLine: (line: string) => void): { text: () => string } {
  let out = '';
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (out.length > 20_000) out = out.slice(-20_000);
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      onLine(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (out.length > 20_000) out = out.slice(-20_000);
  });
  return { text: () => out };
}

const tryJson = (line: string): Record<string, unknown> | null => {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
};

/** Starts a long-running child and resolves once it prints its ready line. */
export function startChild(
  script: string,
  opts: { env?: Record<string, string>; args?: string[]; nodeArgs?: string[]; readyTimeoutMs?: number; name: string },
): Promise<Child> {
  const proc = spawnNode(script, opts.args ?? [], opts.env ?? {}, opts.nodeArgs ?? []);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${opts.name} did not start within ${opts.readyTimeoutMs ?? 120_000} ms:\n${out.text()}`));
    }, opts.readyTimeoutMs ?? 120_000);
    const out = collect(proc, (line) => {
      const j = tryJson(line);
      if (j?.ready === true) {
        clearTimeout(timer);
        resolve({
          proc,
          info: j,
          exited,
          stop: async () => {
            if (proc.exitCode !== null || proc.signalCode !== null) return;
            proc.kill('SIGTERM');
            const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(t);
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${opts.name} exited (${code}) before it was ready:\n${out.text()}`));
    });
  });
}

/** Runs a one-shot child to completion and returns its last JSON line. */
export function runChild<T>(
  script: string,
  opts: { env?: Record<string, string>; args?: string[]; nodeArgs?: string[]; timeoutMs?: number; name: string; onProgress?: (line: string) => void },
): Promise<T> {
  const proc = spawnNode(script, opts.args ?? [], opts.env ?? {}, opts.nodeArgs ?? []);
  let last: Record<string, unknown> | null = null;
  const out = collect(proc, (line) => {
    const j = tryJson(line);
    if (j && 'progress' in j) opts.onProgress?.(String(j.progress));
    else if (j) last = j;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${opts.name} did not finish within ${opts.timeoutMs ?? 600_000} ms:\n${out.text()}`));
    }, opts.timeoutMs ?? 600_000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 && last) resolve(last as T);
      else reject(new Error(`${opts.name} failed (exit ${code}):\n${out.text()}`));
    });
  });
}
