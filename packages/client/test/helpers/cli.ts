/** The `tether` CLI as a real child process: `node bin/tether.mjs …`, as a user runs it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/tether.mjs', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  /** Everything printed so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once stdout contains `text`. */
  waitForOutput(text: string): Promise<void>;
  done: Promise<CliResult>;
}

/** The environment of the child: ours without anything that would steer the CLI, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('TETHER_') || k === 'INIT_CWD') delete base[k];
  return { ...base, ...env };
}

export function startCli(args: string[], env: Record<string, string> = {}, timeoutMs = 45_000): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: PACKAGE_DIR, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: { text: string; resolve: () => void }[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const w of [...watchers]) {
      if (!stdout.includes(w.text)) continue;
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    waitForOutput: (text) =>
      new Promise<void>((resolve, reject) => {
        if (stdout.includes(text)) return resolve();
        watchers.push({ text, resolve });
        void done.then((r) => reject(new Error(`the CLI exited (${r.code}) before printing "${text}"; stdout: ${r.stdout}; stderr: ${r.stderr}`)));
      }),
    done,
  };
}

export const runCli = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => startCli(args, env).done;
