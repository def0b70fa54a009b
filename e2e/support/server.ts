/**
 * The real Tether server as a child process: a free loopback port, a temp data dir, the built dashboard. `kill9()` is a
 * real SIGKILL; `restart()` starts it again on the same port and data dir, as an operator would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const serverDir = join(root, 'packages/server');
const dashboardDist = join(root, 'packages/dashboard/dist');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export class TetherProcess {
  child: ChildProcess | null = null;
  output = '';
  readonly dataDir = mkdtempSync(join(tmpdir(), 'tether-e2e-'));
  /**
   * The server serves a copy of the built dashboard taken when it first starts: a `vite build` running meanwhile (it
   * empties dist/ first) must not turn pages into 404s halfway through the suite.
   */
  readonly dashboardDir = mkdtempSync(join(tmpdir(), 'tether-e2e-dashboard-'));
  private dashboardCopied = false;
  /** `env`: extra settings for this server (e.g. TETHER_ALLOWED_TARGETS), on top of the ones every e2e server gets. */
  constructor(
    readonly port: number,
    readonly env: Readonly<Record<string, string>> = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.dashboardCopied) {
      if (!existsSync(join(dashboardDist, 'index.html')))
        throw new Error(`no dashboard build in ${dashboardDist}: run \`pnpm --filter @tether/dashboard build\` (the e2e \`pnpm test\` does)`);
      cpSync(dashboardDist, this.dashboardDir, { recursive: true });
      this.dashboardCopied = true;
    }
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: serverDir,
      env: {
        ...process.env,
        PORT: String(this.port),
        HOST: '127.0.0.1',
        TETHER_DATA_DIR: this.dataDir,
        TETHER_LOG_LEVEL: 'warn',
        TETHER_DASHBOARD_DIR: this.dashboardDir,
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`server exited with ${child.exitCode ?? child.signalCode}:\n${this.output}`);
      try {
        const r = await fetch(`${this.url}/healthz`);
        if (r.ok) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server did not become healthy in 30 s:\n${this.output}`);
  }

  async kill9(): Promise<void> {
    const c = this.child;
    // A process killed by a signal has a null exitCode and its signalCode set: both mean it is gone already.
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill9();
    await this.start();
  }

  async stop(): Promise<void> {
    await this.kill9();
    rmSync(this.dataDir, { recursive: true, force: true });
    rmSync(this.dashboardDir, { recursive: true, force: true });
  }
}
