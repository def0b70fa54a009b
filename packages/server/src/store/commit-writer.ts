/**
 * Group commit for run files. Every commit queued during one turn of the event loop goes to a writer thread in one
 * message; the thread writes each run file atomically (temp file → fsync? → rename, exactly as before, one file per
 * run commit), fsyncs each directory once for the whole group (TETHER_FSYNC=1), appends the group's index lines
 * in one write, and answers once. Each commit's promise resolves only after its own file is renamed into place (and
 * synced) and its index line appended: acknowledged after durable, as before.
 *
 * Why a thread: the async fs API costs four to five thread-pool round trips per commit (open, write, close, rename,
 * index append), and on the 2-vCPU benchmark machines each round trip cost the event loop more than the syscall
 * itself (the B1 profile in docs/benchmarks.md: ~30% of the main thread in fs dispatch, store ≈ 250 µs CPU per commit
 * on tmpfs). Here the main thread pays one postMessage per group, and the syscalls run on the writer thread.
 */
import { Worker } from 'node:worker_threads';
import { basename, dirname } from 'node:path';

interface Op {
  file: string;
  tmp: string;
  text: string;
  line: string | null;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Reply {
  id: number;
  /** Per op: null, or the error that op hit (its file is untouched). */
  errors: Array<{ message: string; code?: string } | null>;
  /** An error after the files (directory fsync, index append): every op of the group fails. */
  groupError: { message: string; code?: string } | null;
}

// Plain CommonJS, evaluated in the worker: no loader, no TypeScript, works under node, tsx and vitest alike.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
let indexFd = null;
const plain = (e) => ({ message: String((e && e.message) || e), code: e && e.code });
function writeAll(fd, text) {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}
function fsyncPath(p) {
  const fd = fs.openSync(p, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}
parentPort.on('message', (m) => {
  if (m.type === 'index') {
    try { if (indexFd !== null) fs.closeSync(indexFd); indexFd = fs.openSync(m.file, 'a'); parentPort.postMessage({ id: m.id, errors: [], groupError: null }); }
    catch (e) { parentPort.postMessage({ id: m.id, errors: [], groupError: plain(e) }); }
    return;
  }
  if (m.type === 'noop') {
    parentPort.postMessage({ id: m.id, errors: [], groupError: null });
    return;
  }
  if (m.type === 'close') {
    try { if (indexFd !== null) fs.closeSync(indexFd); } catch {}
    indexFd = null;
    parentPort.postMessage({ id: m.id, errors: [], groupError: null });
    return;
  }
  const errors = [];
  const dirs = new Set();
  let lines = '';
  for (const op of m.ops) {
    try {
      const fd = fs.openSync(op.tmp, 'w', 0o644);
      try {
        writeAll(fd, op.text);
        if (m.fsync) fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(op.tmp, op.file);
      if (m.fsync) dirs.add(path.dirname(op.file));
      if (op.line) lines += op.line;
      errors.push(null);
    } catch (e) {
      try { fs.unlinkSync(op.tmp); } catch {}
      errors.push(plain(e));
    }
  }
  let groupError = null;
  try {
    for (const d of dirs) fsyncPath(d);
    if (lines && indexFd !== null) writeAll(indexFd, lines);
  } catch (e) {
    groupError = plain(e);
  }
  parentPort.postMessage({ id: m.id, errors, groupError });
});
`;

const toError = (e: { message: string; code?: string }): Error => Object.assign(new Error(e.message), e.code ? { code: e.code } : {});

let tmpCounter = 0;

export class CommitWriter {
  private readonly worker: Worker;
  private queue: Op[] = [];
  private scheduled = false;
  private nextId = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private dead: Error | null = null;

  constructor(private readonly fsync: boolean) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    // Idle, the thread must not keep the process alive; while a group is in flight, the pending reply does.
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      const done = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      if (this.waiting.size === 0) this.worker.unref();
      done?.(r);
    });
    const fail = (e: Error) => {
      this.dead = e;
      for (const done of this.waiting.values()) done({ id: -1, errors: [], groupError: { message: `commit writer stopped: ${e.message}` } });
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
  }

  /** Appends future groups' index lines to this file (opened once, in append mode). */
  openIndex(file: string): Promise<void> {
    return this.call({ type: 'index', file }).then((r) => {
      if (r.groupError) throw toError(r.groupError);
    });
  }

  /** Writes `text` to `file` atomically, then appends `line` to the index; resolves once both are done. */
  write(file: string, text: string, line: string | null): Promise<void> {
    if (this.dead) return Promise.reject(new Error(`commit writer stopped: ${this.dead.message}`));
    return new Promise<void>((resolve, reject) => {
      const tmp = `${dirname(file)}/.${basename(file)}.tmp-${process.pid}-w${++tmpCounter}`;
      this.queue.push({ file, tmp, text, line, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After this turn's I/O callbacks: every commit they queued joins the same group.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const ops = this.queue;
    this.queue = [];
    if (!ops.length) return;
    void this.call({ type: 'group', fsync: this.fsync, ops: ops.map(({ file, tmp, text, line }) => ({ file, tmp, text, line })) }).then((r) => {
      ops.forEach((op, i) => {
        const own = r.errors[i];
        const e = r.groupError ?? (own === undefined ? { message: 'commit writer gave no answer' } : own);
        if (e) op.reject(toError(e));
        else op.resolve();
      });
    });
  }

  private call(msg: Record<string, unknown>): Promise<Reply> {
    if (this.dead) return Promise.resolve({ id: -1, errors: [], groupError: { message: `commit writer stopped: ${this.dead.message}` } });
    const id = ++this.nextId;
    return new Promise<Reply>((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.ref();
      this.worker.postMessage({ ...msg, id });
    });
  }

  /** Resolves once every write queued so far has been answered. */
  async drain(): Promise<void> {
    if (this.scheduled) this.flush();
    if (!this.dead) await this.call({ type: 'noop' });
  }

  /** Writes what is queued, closes the index and stops the thread. */
  async close(): Promise<void> {
    if (this.scheduled) this.flush();
    // The thread answers in order: once `close` is answered, every group posted before it has been.
    if (!this.dead) await this.call({ type: 'close' });
    this.dead ??= new Error('closed');
    await this.worker.terminate();
  }
}
