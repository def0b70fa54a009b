/**
 * A background write-back that fails is not swallowed: /healthz says so (`ok: false`, the failing file named, the
 * failures counted) and the server's log has one line for the whole streak, not one per attempt; once the cause is
 * gone the next write-back succeeds, /healthz is ok again and the log says it recovered. Meanwhile nothing is lost and
 * the run is served.
 *
 * The server is the real one (buildApp, the lowdb store the tether plugin creates, its logger) and the cause is real:
 * a directory where the run's file must go, so the rename onto it fails (EISDIR), as root too. Only the store's 30 s
 * write-back interval is a fake timer, moved by hand; the write-backs themselves run on their real thread.
 */
import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Health, Run } from '@tether/machine/protocol';
import type { RunDoc } from '../src/store/types.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { serve, type Served } from './helpers/fuzz-server.ts';
import { until } from './helpers/http-app.ts';

const INTERVAL_MS = 30_000; // the store's default write-back interval, which the server uses

let ext: FakeExternalSystem;
let s: Served | null = null;
let logLines: Array<{ level: number; msg: string } & Record<string, unknown>> = [];

beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
});
afterEach(async () => {
  await s?.close();
  s = null;
  vi.useRealTimers();
  await ext.close();
});

describe('/healthz and the log report write-back failures', () => {
  it('names the file while write-backs fail, logs the streak once, and is ok again (and says so) once one succeeds', async () => {
    // Before the server starts: the store arms its interval while it loads.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = new ManualClock();
    logLines = [];
    s = await serve({
      clock,
      build: { logger: { level: 'info', stream: { write: (line: string) => void logLines.push(JSON.parse(line) as (typeof logLines)[number]) } } },
    });
    const srv = s;
    const health = async () => {
      const a = await srv.send('GET', '/healthz');
      expect(a.status, a.text).toBe(200);
      return a.json as Health;
    };
    const writeBackLines = () => logLines.filter((l) => l.msg.startsWith('write-back'));

    const created = await srv.send('POST', '/api/runs', { json: { name: 'wb', target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 1 } });
    expect(created.status, created.text).toBe(201);
    const { id } = created.json as Run;
    await srv.idle();
    expect((await srv.run(id)).state).toBe('awaitingCallback');
    expect((await health()).store).toEqual({ kind: 'file', writeBack: { ok: true, consecutiveFailures: 0 } });

    // Nothing has been written back yet, so the run has no file: a directory takes its place.
    const runFile = join(srv.dataDir, 'runs', `${id}.json`);
    await mkdir(runFile);
    for (let i = 1; i <= 3; i++) {
      vi.advanceTimersByTime(INTERVAL_MS);
      await until(`write-back ${i} to fail`, async () => ((await health()).store.writeBack?.consecutiveFailures === i ? true : undefined));
    }
    const failing = await health();
    expect(failing.ok).toBe(false);
    expect(failing.damaged).toEqual([]);
    expect(failing.store.writeBack).toEqual({
      ok: false,
      consecutiveFailures: 3,
      lastError: { at: new Date(clock.now()).toISOString(), message: expect.stringContaining(runFile), files: [runFile], fileCount: 1 },
    });
    expect(failing.store.writeBack?.lastError?.message).toMatch(/EISDIR/);
    const failed = writeBackLines();
    expect(failed, 'three failed write-backs, one log line').toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 50, files: [runFile], fileCount: 1 });
    expect(failed[0]!.msg).toMatch(/^write-back failed/);
    // Nothing is lost meanwhile: the run is served, from the journal.
    expect((await srv.run(id)).state).toBe('awaitingCallback');

    await rmdir(runFile);
    vi.advanceTimersByTime(INTERVAL_MS);
    await until('the write-back to succeed', async () => ((await health()).store.writeBack?.ok ? true : undefined));
    const recovered = await health();
    expect(recovered.ok).toBe(true);
    expect(recovered.store.writeBack).toEqual({ ok: true, consecutiveFailures: 0, lastSuccessAt: new Date(clock.now()).toISOString() });
    expect(writeBackLines().slice(1)).toEqual([
      expect.objectContaining({ level: 30, msg: 'write-back recovered after 3 failed attempt(s)', failures: 3 }),
    ]);
    expect((JSON.parse(await readFile(runFile, 'utf8')) as RunDoc).id).toBe(id);
  });
});
