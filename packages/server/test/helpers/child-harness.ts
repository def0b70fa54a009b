/**
 * Parent side of the crash tests: forks real child engines (node --import tsx), talks to them over IPC and
 * kills them with SIGKILL. Every child is tracked so `killAllChildren()` in afterEach cleans up even when a test
 * fails half-way; children also exit by themselves if the IPC channel drops.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import type { CallbackOutcome } from '../../src/engine/engine.ts';
import type { Run } from '@tether/machine';
import type { RunDoc } from '../../src/store/types.ts';
import type { ChildMessage, ChildRequest, ChildStoreOptions, ChildUpdate, ChildWriteBack } from './child-protocol.ts';
import { within } from './async.ts';

const here = dirname(fileURLToPath(import.meta.url));
const serverDir = resolve(here, '../..');
const entry = resolve(here, 'child-engine.ts');

export const CHILD_SECRET = 'crash-test-secret-crash-test-secret!';

const children = new Set<ChildEngine>();

export class ChildEngine {
  readonly updates: ChildUpdate[] = [];
  /** Write-backs of this child's store that ended, in order. */
  readonly writeBacks: ChildWriteBack[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private listeners = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive = true;

  private constructor(private readonly proc: ChildProcess) {
    children.add(this);
    this.exited = new Promise((res) => {
      proc.once('exit', (code, signal) => {
        this.alive = false;
        children.delete(this);
        for (const p of this.pending.values()) p.reject(new Error(`child ${proc.pid} exited (${signal ?? code}) before replying`));
        this.pending.clear();
        for (const l of this.listeners) l();
        res({ code, signal });
      });
    });
    proc.on('message', (raw) => {
      const m = raw as ChildMessage;
      if (m.op === 'reply') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.ok) p?.resolve(m.result);
        else p?.reject(new Error(`child: ${m.error}`));
      } else if (m.op === 'writeBack') {
        this.writeBacks.push(m);
      } else if (m.op === 'update') {
        this.updates.push(m);
        for (const l of this.listeners) l();
      }
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Forks a child and resolves once it has loaded its modules (it has not opened any store yet). */
  static async spawn(): Promise<ChildEngine> {
    const proc = fork(entry, [], {
      cwd: serverDir,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const child = new ChildEngine(proc);
    const ready = new Promise<void>((res, rej) => {
      proc.on('message', (m) => (m as ChildMessage).op === 'ready' && res());
      proc.once('exit', (code, signal) => rej(new Error(`child exited (${signal ?? code}) before it was ready`)));
      proc.once('error', rej);
    });
    await within(ready, 20_000, 'the child engine to load');
    return child;
  }

  request<T = unknown>(req: ChildRequest): Promise<T> {
    if (!this.alive) return Promise.reject(new Error('child is dead'));
    const id = this.nextId++;
    return new Promise<T>((res, rej) => {
      this.pending.set(id, { resolve: res as (v: unknown) => void, reject: rej });
      this.proc.send({ ...req, id });
    });
  }

  start(
    dir: string,
    publicUrl = 'http://127.0.0.1:1',
    store?: ChildStoreOptions,
    opts: { clockOffsetMs?: number } = {},
  ): Promise<{ bootId: string; startedAt: number }> {
    return this.request({ op: 'start', dir, secret: CHILD_SECRET, publicUrl, ...(store ? { store } : {}), ...opts });
  }
  create(config: Extract<ChildRequest, { op: 'create' }>['config']): Promise<Run> {
    return this.request({ op: 'create', config });
  }
  callback(runId: string, attemptId: string, payload: Extract<ChildRequest, { op: 'callback' }>['payload']): Promise<CallbackOutcome> {
    return this.request({ op: 'callback', runId, attemptId, payload });
  }
  getDoc(runId: string): Promise<RunDoc | null> {
    return this.request({ op: 'get', runId });
  }

  /** Resolves with the first forwarded update (past or future) that matches. */
  waitForUpdate(pred: (u: ChildUpdate) => boolean, what: string, ms = 15_000): Promise<ChildUpdate> {
    const found = this.updates.find(pred);
    if (found) return Promise.resolve(found);
    return within(
      new Promise<ChildUpdate>((res, rej) => {
        const check = () => {
          const u = this.updates.find(pred);
          if (u) {
            this.listeners.delete(check);
            res(u);
          } else if (!this.alive) {
            this.listeners.delete(check);
            rej(new Error(`child died while waiting for ${what}`));
          }
        };
        this.listeners.add(check);
      }),
      ms,
      what,
    );
  }

  /** SIGKILL: no shutdown hook, no flush, no goodbye. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.alive) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill()));
}
