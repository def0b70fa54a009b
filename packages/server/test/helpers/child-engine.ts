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
import { LowdbRunStore } from '../../src/store/lowdb-store.ts';
import type { ChildCommand, ChildMessage } from './child-protocol.ts';

let engine: Engine | null = null;

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

function need(): Engine {
  if (!engine) throw new Error('engine not started');
  return engine;
}

async function handle(cmd: ChildCommand): Promise<unknown> {
  switch (cmd.op) {
    case 'start': {
      const store = new LowdbRunStore({ dir: cmd.dir, fsync: cmd.fsync ?? false });
      engine = await Engine.start({ store, signer: new Signer(Buffer.from(cmd.secret), cmd.publicUrl), logger });
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
      return need().dispatch(cmd.runId, { ...cmd.event, at: Date.now() } as RunEvent, { source: 'api' });
    case 'get':
      return need().getDoc(cmd.runId);
    case 'idle':
      await need().idle();
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
