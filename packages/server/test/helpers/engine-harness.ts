/**
 * An engine on a real lowdb temp dir, a ManualClock and a real fake external system on loopback, with the store
 * wrapped to record every commit. `restart()` stops the engine and starts a new one on the same directory, as a
 * server restart would (graceful; crash tests use a real child process instead).
 */
import { Engine, type EngineOptions } from '../../src/engine/engine.ts';
import { LowdbRunStore } from '../../src/store/lowdb-store.ts';
import { FileRunStore } from '../../src/store/file-run-store.ts';
import { FakeExternalSystem } from './fake-external.ts';
import { ManualClock } from './manual-clock.ts';
import { RecordingStore } from './recording-store.ts';
import { tempDir, testSigner } from './engine.ts';

export interface Harness {
  dir: string;
  clock: ManualClock;
  ext: FakeExternalSystem;
  store: RecordingStore;
  engine: Engine;
  restart(extra?: Partial<EngineOptions>): Promise<Engine>;
  close(): Promise<void>;
}

export async function harness(extra: Partial<EngineOptions> = {}, clock = new ManualClock()): Promise<Harness> {
  const tmp = await tempDir('tether-engine-');
  const ext = await new FakeExternalSystem().start();
  const open = async (more: Partial<EngineOptions>) => {
    const store = new RecordingStore(new LowdbRunStore({ dir: tmp.dir }));
    const engine = await Engine.start({ store: new FileRunStore(store), signer: testSigner(), clock, ...extra, ...more });
    return { store, engine };
  };
  const h: Harness = {
    dir: tmp.dir,
    clock,
    ext,
    ...(await open({})),
    async restart(more = {}) {
      await h.engine.stop();
      Object.assign(h, await open(more));
      return h.engine;
    },
    async close() {
      await h.engine.stop();
      await ext.close();
      await tmp.cleanup();
    },
  };
  return h;
}
