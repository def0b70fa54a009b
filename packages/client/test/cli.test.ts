/**
 * The `tether` CLI as a real child process (`node bin/tether.mjs …`) against a real server and its simulator: exit
 * codes, `--json` output, errors on stderr, `--help`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tether, type Run, type RunEventEntry, type RunSummary } from '../src/index.ts';
import { runCli, startCli } from './helpers/cli.ts';
import { simulated, startServer, type TestServer } from './helpers/server.ts';

let s: TestServer;
let tether: Tether;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  s = await startServer();
  tether = new Tether({ baseUrl: s.base });
  env = { TETHER_URL: s.base };
  dir = await mkdtemp(join(tmpdir(), 'tether-cli-'));
});
afterAll(async () => {
  await s?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sim = (spec: object) => JSON.stringify({ simulate: { delaySeconds: 0.2, ...spec } });
const startArgs = (spec: object, extra: string[] = []) => [
  'runs',
  'start',
  '--target',
  `${s.base}/simulator/jobs`,
  '--timeout',
  '10',
  '--retries',
  '0',
  '--payload',
  sim(spec),
  ...extra,
];

describe('tether --help', () => {
  it('works on every command', async () => {
    for (const args of [
      ['--help'],
      ['runs', '--help'],
      ['runs', 'start', '--help'],
      ['runs', 'watch', '--help'],
      ['runs', 'list', '--help'],
      ['help', 'runs'],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toContain('Usage: tether');
    }
    const top = await runCli(['--help']);
    expect(top.stdout).toContain('--url');
    expect(top.stdout).toContain('TETHER_URL');
    expect(top.stdout).toContain('Exit codes');
    const start = await runCli(['runs', 'start', '--help']);
    for (const o of ['--target', '--timeout', '--retries', '--name', '--payload', '--idempotency-key', '--wait']) expect(start.stdout).toContain(o);
  });

  it('bad usage exits 64', async () => {
    const r = await runCli(['runs', 'frobnicate'], env);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('frobnicate');
    expect((await runCli(['runs', 'list', '--limit', 'lots'], env)).code).toBe(64);
    const payload = await runCli(startArgs({}, ['--payload', '{nope']), env);
    expect(payload.code).toBe(64);
    expect(payload.stderr).toContain('error TETHER_CLI_USAGE: --payload');
  });
});

describe('tether runs start', () => {
  it('--wait exits 0 for a simulated success and prints the final state', async () => {
    const r = await runCli(startArgs({ outcome: 'success' }, ['--name', 'cli-ok', '--wait']), env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^run_\S+ succeeded: /m);
  });

  it('--wait exits 1 for a simulated failure', async () => {
    const r = await runCli(startArgs({ outcome: 'failure', retryable: false }, ['--wait']), env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^run_\S+ failed: /m);
  });

  it('--json prints the run; --payload @file reads the file', async () => {
    const file = join(dir, 'payload.json');
    await writeFile(file, sim({ outcome: 'never' }));
    const r = await runCli([...startArgs({}, ['--payload', `@${file}`, '--name', 'from-file']), '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout) as Run;
    expect(run).toMatchObject({ name: 'from-file', status: 'running', config: { payload: { simulate: { outcome: 'never' } } } });
    await tether.runs.cancel(run.id);
  });

  it('--notify sets the completion webhook (notify.url)', async () => {
    const r = await runCli([...startArgs({ outcome: 'never' }, ['--notify', 'http://127.0.0.1:9/hooks/tether']), '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout) as Run;
    expect(run.config.notify).toEqual({ url: 'http://127.0.0.1:9/hooks/tether' });
    await tether.runs.cancel(run.id);
  });

  it('--wait --json prints the final run as JSON', async () => {
    const r = await runCli(['--json', ...startArgs({ outcome: 'success' }, ['--wait'])], env);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Run).status).toBe('succeeded');
  });

  it('a validation error exits 3 and names every wrong field on stderr', async () => {
    const r = await runCli(['runs', 'start', '--target', 'not a url', '--timeout', '0', '--retries', 'many'], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error TETHER_VALIDATION: /m);
    for (const field of ['target.url', 'timeoutSeconds', 'retryLimit'])
      expect(r.stderr).toMatch(new RegExp(`^  ${field.replace('.', '\\.')}: \\S`, 'm'));
    expect(r.stdout).toBe('');
  });

  it('missing required options are the server’s fields too', async () => {
    const r = await runCli(['runs', 'start'], env);
    expect(r.code).toBe(3);
    for (const field of ['target', 'timeoutSeconds', 'retryLimit']) expect(r.stderr).toContain(`  ${field}: is required`);
  });
});

describe('tether runs watch', () => {
  it('exits 0 when the run succeeds, printing plain lines (not a TTY) and the final overall state', async () => {
    // The attempt waits until the watch has printed its progress line (a fixed delay would race a slow CLI start).
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    const watching = startCli(['runs', 'watch', run.id], env);
    await watching.waitForOutput('attempt 1/1 · ');
    const attemptId = (await tether.runs.get(run.id)).attempts[0]!.id;
    await tether.runs.complete(run.id, attemptId, { success: true, message: 'done by the test' });
    const r = await watching.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('\r');
    expect(r.stdout).toMatch(/^attempt 1\/1 · /m);
    const final = await tether.runs.get(run.id);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`${run.id} succeeded: ${final.overallState}`);
  });

  it('exits 1 when the run fails', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'failure', delaySeconds: 1, retryable: false }));
    const r = await runCli(['runs', 'watch', run.id], env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain(`${run.id} failed: `);
  });

  it('exits 2 when the run is cancelled meanwhile (by `tether runs cancel`)', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    const watching = startCli(['runs', 'watch', run.id], env);
    await watching.waitForOutput('timeout in');
    const cancel = await runCli(['runs', 'cancel', run.id, '--reason', 'from the test'], env);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain(`${run.id} cancelled`);
    const r = await watching.done;
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toContain(`${run.id} cancelled: `);
  });

  it('--json prints one JSON document per line: the stream messages, then the final run', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    const watching = startCli(['runs', 'watch', run.id, '--json'], env);
    await watching.waitForOutput('"type":"snapshot"');
    const attemptId = (await tether.runs.get(run.id)).attempts[0]!.id;
    await tether.runs.complete(run.id, attemptId, { success: true });
    const r = await watching.done;
    expect(r.code, r.stderr).toBe(0);
    const docs = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { type?: string });
    expect(docs[0]!.type).toBe('snapshot');
    expect(docs.some((m) => m.type === 'run.updated')).toBe(true);
    expect(docs.at(-1)).toMatchObject({ id: run.id, status: 'succeeded' });
    expect(docs.at(-1)!.type).toBeUndefined();
  });

  it('an unknown run exits 3 with TETHER_RUN_NOT_FOUND', async () => {
    const r = await runCli(['runs', 'watch', 'run_nope'], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error TETHER_RUN_NOT_FOUND: /m);
  });
});

describe('tether runs list / get / events / retry-now / rerun', () => {
  it('--json output parses as the API shapes', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'success' }, { name: 'cli-json' }));
    await tether.runs.result(run.id, { timeoutMs: 20_000 });

    const got = await runCli(['runs', 'get', run.id, '--json'], env);
    expect(got.code, got.stderr).toBe(0);
    expect((JSON.parse(got.stdout) as Run).id).toBe(run.id);

    const list = await runCli(['--json', 'runs', 'list', '--name', 'cli-json', '--limit', '1'], env);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as RunSummary[]).map((r) => r.id)).toEqual([run.id]);

    const events = await runCli(['runs', 'events', run.id, '--json'], env);
    expect((JSON.parse(events.stdout) as RunEventEntry[]).at(-1)?.stateAfter).toBe('succeeded');

    const rerun = await runCli(['runs', 'rerun', run.id, '--json'], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    const again = JSON.parse(rerun.stdout) as Run;
    expect(again.rerunOf).toBe(run.id);
    await tether.runs.result(again.id, { timeoutMs: 20_000 });
  });

  it('text output: a table of runs, a run with its attempts', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'success' }, { name: 'cli-text' }));
    await tether.runs.result(run.id, { timeoutMs: 20_000 });
    const list = await runCli(['runs', 'list', '--name', 'cli-text', '--status', 'succeeded'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+STATUS\s+STATE\s+ATTEMPT/);
    expect(list.stdout).toContain(run.id);
    const got = await runCli(['runs', 'get', run.id], env);
    expect(got.stdout).toMatch(/^status\s+succeeded \(succeeded\)$/m);
    expect(got.stdout).toMatch(/^1\s+CallbackSuccess/m);
  });

  it('retry-now on a run that is not in backoff exits 3 with the API error', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    const r = await runCli(['runs', 'retry-now', run.id], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error TETHER_NOT_IN_BACKOFF: /m);
    await tether.runs.cancel(run.id);
  });

  it('--url takes precedence over TETHER_URL; no server exits 4', async () => {
    const r = await runCli(['--url', 'http://127.0.0.1:1', 'runs', 'list'], env);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^error TETHER_CLIENT_NETWORK: /m);
  });
});

describe('the token', () => {
  let secured: TestServer;
  beforeAll(async () => {
    secured = await startServer({ TETHER_API_TOKEN: 'cli-token' });
  });
  afterAll(async () => {
    await secured?.close();
  });

  it('is taken from --token or TETHER_API_TOKEN', async () => {
    const none = await runCli(['runs', 'list'], { TETHER_URL: secured.base });
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/^error TETHER_UNAUTHORIZED: /m);
    expect((await runCli(['runs', 'list', '--token', 'cli-token'], { TETHER_URL: secured.base })).code).toBe(0);
    const r = await runCli(
      ['runs', 'start', '--target', `${secured.base}/simulator/jobs`, '--timeout', '10', '--retries', '0', '--payload', sim({}), '--wait'],
      { TETHER_URL: secured.base, TETHER_API_TOKEN: 'cli-token' },
    );
    expect(r.code, r.stderr).toBe(0);
  });
});
