/**
 * A writer thread and its request/reply protocol, shared by the journal (journal.ts) and the write-back
 * (run-file-writer.ts). Each request carries an id, the thread answers in order with the same id. Idle, the thread
 * does not keep the process alive; while a request is in flight its pending reply does. Once the thread dies (or is
 * stopped), every pending and later request rejects, saying so.
 */
import { Worker } from 'node:worker_threads';

export class WriterThread<R extends { id: number }> {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: R) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;

  /**
   * `source` is plain JavaScript, an ES module loaded from a data: URL: no loader, no TypeScript, no file to ship beside
   * the bundle; it works under node, tsx, vitest and `node --input-type=module -e` alike (an eval'd CommonJS worker
   * inherits that flag and fails). `onReply` sees every reply before its caller does.
   */
  constructor(
    source: string,
    private readonly name: string,
    onReply: (r: R) => void = () => {},
  ) {
    this.worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`));
    this.worker.unref();
    this.worker.on('message', (r: R) => {
      const pending = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      if (this.waiting.size === 0) this.worker.unref();
      onReply(r);
      pending?.resolve(r);
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`exited with code ${code}`)));
  }

  private stoppedError(): Error {
    return new Error(`${this.name} stopped: ${this.dead!.message}`);
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const pending of this.waiting.values()) pending.reject(this.stoppedError());
    this.waiting.clear();
  }

  call(msg: Record<string, unknown>): Promise<R> {
    if (this.dead) return Promise.reject(this.stoppedError());
    const id = ++this.nextId;
    return new Promise<R>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...msg, id });
    });
  }

  /** Sends `last` (answered after everything posted before it), then stops the thread. */
  async stop(last: Record<string, unknown>): Promise<void> {
    if (!this.dead) await this.call(last).catch(() => {});
    this.dead ??= new Error('closed');
    await this.worker.terminate();
  }
}
