import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRunConfig, type ResolvedRunConfig, type RunConfig } from '@tether/machine';
import { Engine } from '../../src/engine/engine.ts';
import { Signer } from '../../src/engine/signer.ts';
import { LowdbRunStore } from '../../src/store/lowdb-store.ts';
import { FileRunStore } from '../../src/store/file-run-store.ts';
import type { Clock } from '../../src/engine/clock.ts';
import type { HttpClient } from '../../src/engine/http-client.ts';

export async function tempDir(prefix = 'tether-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const testSigner = () => new Signer(Buffer.from('test-secret-test-secret-test-secret!'), 'http://127.0.0.1:1');

export async function startEngine(dir: string, clock?: Clock, extra: { http?: HttpClient } = {}): Promise<Engine> {
  const opts: ConstructorParameters<typeof LowdbRunStore>[0] = { dir };
  return Engine.start({ store: new FileRunStore(new LowdbRunStore(opts)), signer: testSigner(), ...(clock ? { clock } : {}), ...extra });
}

export function config(c: Partial<RunConfig> & { target: RunConfig['target'] }): ResolvedRunConfig {
  const r = parseRunConfig({ timeoutSeconds: 60, retryLimit: 4, ...c });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}
