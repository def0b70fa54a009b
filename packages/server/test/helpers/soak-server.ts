/**
 * The real server as a child process (`node --import tsx src/server.ts`), on one fixed loopback port and one data
 * directory across restarts, so it can be SIGKILLed and started again exactly as an operator's process manager would.
 * Every boot is recorded: when it was spawned, when it listened, when it was killed, how it exited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const SERVER_PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));

export interface Boot {
  n: number;
  pid: number;
  spawnedAt: number;
  /** When its "Tether is running" line arrived: the server listens and its engine has resumed. */
  upAt: number | null;
  /** When the soak sent SIGKILL. */
  killedAt: number | null;
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null;
  /** Killed or stopped on purpose; any other exit is a crash. */
  expected: boolean;
}

/** A free loopback port: bound, read, released. The same port is reused by every restart. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface ServerProcessOptions {
  port: number;
  dataDir: string;
  /** Every boot's stdout and stderr, appended. */
  logFile: string;
  /** Extra environment (HOST, TETHER_API_TOKEN…). TETHER_* of the parent are never inherited. */
  env?: Record<string, string>;
}

export class ServerProcess {
  readonly boots: Boot[] = [];
  private child: ChildProcess | null = null;
  private current: Boot | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly log: WriteStream;
  private readonly env: NodeJS.ProcessEnv;
  /** Everything every boot printed (the first 200 kB), for tests that read what the server says. */
  output = '';

  constructor(private readonly opts: ServerProcessOptions) {
    this.log = createWriteStream(opts.logFile, { flags: 'a' });
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TETHER_') && k !== 'PORT' && k !== 'HOST'));
    this.env = {
      ...inherited,
      HOST: '127.0.0.1',
      PORT: String(opts.port),
      TETHER_DATA_DIR: opts.dataDir,
      TETHER_LOG_LEVEL: 'warn',
      TETHER_DASHBOARD_DIR: `${opts.dataDir}/no-dashboard`,
      ...opts.env,
    };
  }

  get base(): string {
    return `http://127.0.0.1:${this.opts.port}`;
  }

  get up(): boolean {
    return this.current !== null && this.current.upAt !== null && this.current.exit === null;
  }

  /** Spawns a boot and resolves once it listens; rejects (with its output) if it exits first. */
  async start(timeoutMs = 60_000): Promise<Boot> {
    if (this.child) throw new Error('server already running');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: SERVER_PACKAGE_DIR,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const boot: Boot = {
      n: this.boots.length + 1,
      pid: child.pid ?? -1,
      spawnedAt: Date.now(),
      upAt: null,
      killedAt: null,
      exit: null,
      expected: false,
    };
    this.boots.push(boot);
    this.child = child;
    this.current = boot;
    let output = '';
    const tag = `--- boot ${boot.n} (pid ${boot.pid}) ---\n`;
    this.log.write(tag);
    const listening = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`boot ${boot.n} did not listen within ${timeoutMs} ms:\n${output.slice(-2000)}`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        this.log.write(text);
        if (this.output.length < 200_000) this.output += text;
        if (output.length < 20_000) output += text;
        if (boot.upAt === null && output.includes('Tether is running.')) {
          boot.upAt = Date.now();
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (chunk: Buffer) => {
        this.log.write(chunk);
        if (this.output.length < 200_000) this.output += chunk.toString('utf8');
        if (output.length < 20_000) output += chunk.toString('utf8');
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (boot.upAt === null) reject(new Error(`boot ${boot.n} exited (code ${code}, signal ${signal}) before listening:\n${output.slice(-2000)}`));
      });
    });
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        boot.exit = { code, signal, at: Date.now() };
        if (this.child === child) {
          this.child = null;
          this.current = null;
        }
        resolve();
      });
    });
    await listening;
    return boot;
  }

  /** SIGKILL, the way power cuts and OOM killers stop a process: no handler runs, nothing is flushed. */
  async kill(): Promise<Boot> {
    const boot = this.current;
    if (!this.child || !boot) throw new Error('no server to kill');
    boot.expected = true;
    boot.killedAt = Date.now();
    this.child.kill('SIGKILL');
    await this.exited;
    return boot;
  }

  /** SIGTERM (graceful: in-flight commits finish), SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child || !this.current) return;
    this.current.expected = true;
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(force);
  }

  /** Kills a boot still running when the soak itself dies. Synchronous: safe in an `exit` handler. */
  killNow(): void {
    if (this.child && this.current) {
      this.current.expected = true;
      this.child.kill('SIGKILL');
    }
  }

  async close(): Promise<void> {
    await this.stop();
    await new Promise<void>((r) => this.log.end(() => r()));
  }
}

/**
 * Starts the server with `env` and waits for it to exit by itself (a refusal to start), killing it if it does not
 * within `timeoutMs`. Returns its exit code and everything it printed.
 */
/** The server as `node src/server.ts` with `env`, until it exits by itself: its exit code and output (also apart). */
export async function runUntilExit(
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<{ code: number | null; output: string; stdout: string; stderr: string; timedOut: boolean }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TETHER_') && k !== 'PORT' && k !== 'HOST'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: SERVER_PACKAGE_DIR,
    env: { ...inherited, HOST: '127.0.0.1', PORT: '0', TETHER_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString('utf8');
    stdout += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString('utf8');
    stderr += c.toString('utf8');
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output, stdout, stderr, timedOut };
}
