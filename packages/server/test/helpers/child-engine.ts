/**
 * A real engine in a child process, for crash tests: the parent forks it (`node --import tsx`), tells it which
 * data dir to start on, sends commands over IPC and SIGKILLs it whenever it likes. Every reply is sent only after
 * the command's commit resolved, so a reply the parent received is a durable fact. Committed run updates are
 * forwarded as they happen, so the parent can wait for a state without polling.
 *
 * The child starts idle ("ready") and opens the store only on `start`: a test can spawn its replacement in advance
 * and make the restart itself take milliseconds, not the seconds of a cold `node` + tsx start.
 */
import type { RunEvent } from '@tether/machine';
import { Engine } from '../../src/engine/engine.ts';
import { Signer } from '../../src/engine/signer.ts';
import { systemClock } from '../../src/engine/clock.ts';
import { LowdbRunStore } from '../../src/store/lowdb-store.ts';
import { FileRunStore } from '../../src/store/file-run-store.ts';
import { RunFileWriter } from '../../src/store/run-file-writer.ts';
import type { ChildCommand, ChildMessage, ChildStoreOptions } from './child-protocol.ts';

let engine: Engine | null = null;
let store: LowdbRunStore | null = null;
/** The engine clock's lead over the wall clock (`start`'s clockOffsetMs): events the child stamps itself use it too. */
let clockOffset = 0;

const send = (m: ChildMessage) => {
  if (process.connected) process.send!(m);
};

const logger = {
  info() {},
  warn(obj: object, msg?: string) {
    process.stderr.write(`[child ${process.pid}] warn ${msg ?? ''} ${JSON.stringify(obj)}\n`);
  },
  error(obj: object, msg?: string) {
    process.stderr.write(`[child ${process.pid}] error ${msg ?? ''} ${JSON.stringify(obj)}\n`);
  },
};

/** The store, instrumented: every write-back's end is reported to the parent, and the child may die inside one. */
function openStore(dir: string, fsync: boolean, opts: ChildStoreOptions = {}): LowdbRunStore {
  const { dieAfterRunFileBatches, ...options } = opts;
  const s = new LowdbRunStore({ dir, fsync, ...options });
  const writeBack = s.writeBack.bind(s);
  const reported = new WeakSet<Promise<void>>();
  // The store starts its own write-backs through this method too (budgets, interval), so each one is seen here.
  s.writeBack = () => {
    const p = writeBack();
    if (!reported.has(p)) {
      reported.add(p);
      p.then(
        () => send({ op: 'writeBack', ok: true }),
        () => send({ op: 'writeBack', ok: false }),
      );
    }
    return p;
  };
  if (dieAfterRunFileBatches !== undefined) {
    let batches = 0;
    const writeAll = RunFileWriter.prototype.writeAll;
    RunFileWriter.prototype.writeAll = async function (this: RunFileWriter, files) {
      const failures = await writeAll.call(this, files);
      if (++batches >= dieAfterRunFileBatches) process.kill(process.pid, 'SIGKILL');
      return failures;
    };
  }
  return s;
}

function need(): Engine {
  if (!engine) throw new Error('engine not started');
  return engine;
}

async function handle(cmd: ChildCommand): Promise<unknown> {
  switch (cmd.op) {
    case 'start': {
      store = openStore(cmd.dir, cmd.fsync ?? false, cmd.store);
      const offset = (clockOffset = cmd.clockOffsetMs ?? 0);
      const clock = offset ? { ...systemClock, now: () => Date.now() + offset } : systemClock;
      engine = await Engine.start({ store: new FileRunStore(store), signer: new Signer(Buffer.from(cmd.secret), cmd.publicUrl), logger, clock });
      engine.subscribe((u) => send({ op: 'update', pid: process.pid, at: Date.now(), run: u.run, events: u.events }));
      return { bootId: engine.bootId, startedAt: engine.startedAt };
    }
    case 'create':
      return need().createRun(cmd.config);
    case 'callback':
      return need().callback(cmd.runId, cmd.attemptId, cmd.payload);
    case 'heartbeat':
      return need().heartbeat(cmd.runId, cmd.attemptId, cmd.progress);
    case 'dispatch':
      return need().dispatch(cmd.runId, { ...cmd.event, at: Date.now() + clockOffset } as RunEvent, { source: 'api' });
    case 'get':
      return need().getDoc(cmd.runId);
    case 'idle':
      await need().idle();
      return null;
    case 'writeBack':
      need();
      await store!.writeBack();
      return null;
    case 'stop':
      await need().stop();
      return null;
  }
}

process.on('message', (raw) => {
  const cmd = raw as ChildCommand;
  handle(cmd).then(
    (result) => send({ op: 'reply', id: cmd.id, ok: true, result }),
    (e: unknown) => send({ op: 'reply', id: cmd.id, ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }),
  );
});
// If the parent dies or disconnects, do not linger.
process.on('disconnect', () => process.exit(0));
send({ op: 'ready', pid: process.pid });
